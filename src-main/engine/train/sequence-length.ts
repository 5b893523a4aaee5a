/**
 * The longest sequence a run may train on: no longer than the model's context
 * (positions past max_position_embeddings were never trained, and RoPE
 * scaling aside they mean nothing to it) and no longer than
 * {@link MAX_SEQ_LEN}, past which the fixed-shape graphs (attention grows
 * with its square) cannot be built on any machine this runs on.
 */
import type { ModelConfig } from '../model/types'
import { TuneSetupError, type SettingNamer } from './errors'

export const MAX_SEQ_LEN = 32_768

/** The sequence length a run uses when none is given: the usual default (the contract's), or the model's context when shorter. */
export function defaultSeqLen(config: Pick<ModelConfig, 'maxPositionEmbeddings'>, usual: number): number {
  return Math.min(usual, config.maxPositionEmbeddings)
}

export function checkSeqLen(config: Pick<ModelConfig, 'maxPositionEmbeddings'>, seqLen: number, name: SettingNamer): void {
  const limit = Math.min(MAX_SEQ_LEN, config.maxPositionEmbeddings)
  if (seqLen <= limit) return
  const why =
    limit === config.maxPositionEmbeddings
      ? `the model's context is ${config.maxPositionEmbeddings} tokens (max_position_embeddings in its config.json)`
      : `sequences are limited to ${MAX_SEQ_LEN} tokens`
  throw new TuneSetupError(`${name('seqLen')} ${seqLen} is too long: ${why}. Give at most ${limit}.`, ['seqLen'])
}
