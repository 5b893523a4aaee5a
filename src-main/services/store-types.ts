/**
 * The store owns the types it keeps (it imports no other layer); where the
 * API contract describes the same thing, these compile-time checks keep the
 * two identical, as engine-types.ts does for the engine. Nothing here runs.
 */
import type * as contract from '../api/contract'
import type * as store from '../store'
import type { Holds, Same } from './engine-types'

export type StoreTypesMatchContract = [
  Holds<Same<store.StoredContender, contract.StoredContender>>,
  Holds<Same<store.Verdict, contract.Verdict>>,
]
