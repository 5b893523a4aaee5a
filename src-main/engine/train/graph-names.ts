/**
 * The names of the training and evaluation graphs' inputs and outputs, in
 * one place: sorted-graph.ts declares the graphs with them and trainer.ts
 * feeds and fetches by them, so the two cannot drift apart. The optimizer's
 * own names (parameters, moments, gradients, lr, step, gradNorm) come from
 * onnx/optimizer.ts's `trainStepNames`; this adds the batch and the losses
 * of Sorted Fine-Tuning.
 *
 *   batch              `input_ids`, `labels`          int64 [batchSize, seqLen]
 *   loss of exit e     `loss.<e>`                     mean token loss of the first e layers
 *   counted targets    `loss.tokens`                  what each mean divides by
 *   adapter scale      `lora.scale`                   float [r]: alpha/r each (LoRA), or alpha/b on ranks < b
 *                                                     and 0 after (a DyLoRA step of rank b)
 *   QLoRA base Linear  `<name>.B`, `<name>.scales`    its 4-bit MatMulNBits codes (uint8) and scales (float)
 */
import { trainStepNames } from '../onnx/optimizer'

/** Keys of the `losses` a graph's build function returns; buildTrainStep outputs each as `loss.<key>`. */
export const lossKeys = {
  exit: (exit: number) => String(exit),
  tokens: 'tokens',
} as const

export const graphNames = {
  ...trainStepNames,
  inputIds: 'input_ids',
  labels: 'labels',
  exitLoss: (exit: number) => trainStepNames.loss(lossKeys.exit(exit)),
  tokens: trainStepNames.loss(lossKeys.tokens),
  loraScale: 'lora.scale',
  quantizedPacked: (name: string) => `${name}.B`,
  quantizedScales: (name: string) => `${name}.scales`,
} as const
