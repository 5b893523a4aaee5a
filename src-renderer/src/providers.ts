import type { ExecutionProviderPreference } from '../../src-main/api/contract'

/** How each execution provider choice is named to the user, in the order offered. */
export const providerLabels: Record<ExecutionProviderPreference, string> = {
  auto: 'Automatic (best available)',
  cpu: 'CPU',
  cuda: 'CUDA (NVIDIA)',
  dml: 'DirectML (Windows)',
  webgpu: 'WebGPU',
}

export const providerChoices = (Object.keys(providerLabels) as ExecutionProviderPreference[]).map((id) => ({
  id,
  label: providerLabels[id],
}))
