/**
 * Byte-level BPE training speed: ~5 MB of wordy text to 6144 tokens.
 * Run: npm run bench -- bpe
 */
import { performance } from 'node:perf_hooks'
import { trainByteLevelBpe } from '../../src-main/engine/tokenizer/bpe/train'
import { wordyCorpus } from '../unit/engine/tokenizer/bpe/corpus'

const corpus = wordyCorpus({ bytes: 5_000_000, words: 30_000 })
const bytes = corpus.reduce((n, text) => n + Buffer.byteLength(text), 0)
const start = performance.now()
const { vocab, merges } = trainByteLevelBpe(corpus, { vocabSize: 6144, specialTokens: ['<|begin_of_text|>', '<|end_of_text|>'] })
const seconds = (performance.now() - start) / 1000
console.log(JSON.stringify({ bench: 'bpe_train', corpus_mb: +(bytes / 1e6).toFixed(2), vocab: vocab.size, merges: merges.length, seconds: +seconds.toFixed(2), mb_per_s: +(bytes / 1e6 / seconds).toFixed(2) }))
