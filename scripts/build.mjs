// `npm run build` (and `prepare`, so `npm install` leaves a runnable app).
import { build } from './build-state.mjs'

build()
