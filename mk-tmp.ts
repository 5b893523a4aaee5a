import { writeFileSync } from 'node:fs'
import { writeTinyTextModel } from '/work/wt-tune/tests/fixtures/fixtures'
writeTinyTextModel('/tmp/tt/model', { seed: 8 })
const words = ['hi', 'ho', 'ha', 'he']
const lines = Array.from({ length: 20 }, (_, i) => JSON.stringify({ instruction: `say ${words[i % 4]} ${i}`, input: '', output: `${words[i % 4]} ${words[(i + 1) % 4]} ${i}` }))
writeFileSync('/tmp/tt/data.jsonl', `${lines.join('\n')}\n`)
