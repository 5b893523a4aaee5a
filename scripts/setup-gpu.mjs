// `npm run setup:gpu`: the opt-in download of GPU execution providers.
// `npm install` skips it because the CUDA libraries are large and come from
// NuGet, not the npm registry: package.json's allowScripts denies
// onnxruntime-node its install script, whose only work is that download (the
// CPU provider, and DirectML on Windows, ship inside the npm package).
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { root } from './build-state.mjs'

const ortDir = join(root, 'node_modules/onnxruntime-node')
const platform = `${process.platform}/${process.arch}`

if (platform === 'win32/x64' || platform === 'win32/arm64') {
  console.log('DirectML ships with onnxruntime-node on Windows: nothing to download. Choose "DirectML" in Settings.')
  process.exit(0)
}
if (platform !== 'linux/x64') {
  console.log(`ONNX Runtime for Node has no CUDA build for ${platform}; Sorted Studio runs on the CPU here.`)
  process.exit(0)
}

console.log('Downloading the ONNX Runtime CUDA 12 execution provider (about 300 MB, from NuGet)…')
// The install script reads ONNXRUNTIME_NODE_INSTALL before any npm config, so
// this asks for CUDA 12 even where the environment says skip (older npm).
const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'cuda12' }
const result = spawnSync(process.execPath, [join(ortDir, 'script/install.js')], { cwd: ortDir, env, stdio: 'inherit' })
const library = join(ortDir, 'bin/napi-v6/linux/x64/libonnxruntime_providers_cuda.so')
if (result.status !== 0 || !existsSync(library)) {
  console.error('The CUDA download failed (see above). It needs internet access to api.nuget.org.')
  process.exit(1)
}
console.log(`Installed ${library}.`)
console.log('You also need an NVIDIA driver with CUDA 12 and cuDNN 9 on the library path. Then choose "CUDA" in Settings.')
