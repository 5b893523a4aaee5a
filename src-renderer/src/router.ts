/**
 * The one route table. A page is added here, and the main navigation lists it
 * in this order because its route has a `navLabel`.
 */
import { createRouter, createWebHashHistory, type RouteRecordRaw, type RouterHistory } from 'vue-router'
import AboutView from './views/AboutView.vue'
import ChatView from './views/ChatView.vue'
import LibraryView from './views/LibraryView.vue'
import BatchEvaluationView from './views/BatchEvaluationView.vue'
import CompareView from './views/CompareView.vue'
import SettingsView from './views/SettingsView.vue'

declare module 'vue-router' {
  interface RouteMeta {
    /** The page's name in the main navigation; routes without one are not listed. */
    navLabel?: string
    /** The page uses the whole width (the chat), not the reading column. */
    wide?: boolean
  }
}

export const pages: RouteRecordRaw[] = [
  { path: '/chat', name: 'chat', component: ChatView, meta: { navLabel: 'Chat', wide: true } },
  { path: '/models', name: 'models', component: LibraryView, meta: { navLabel: 'Models' } },
  { path: '/compare', name: 'compare', component: CompareView, meta: { navLabel: 'Compare' } },
  { path: '/compare/batch', name: 'compare-batch', component: BatchEvaluationView },
  // Loaded when first opened: they carry Chart.js, which the other pages do not need.
  { path: '/tune', name: 'tune', component: () => import('./views/TuneView.vue'), meta: { navLabel: 'Fine-tune' } },
  { path: '/runs', name: 'runs', component: () => import('./views/RunsView.vue'), meta: { navLabel: 'Runs' } },
  { path: '/runs/:runId', name: 'run', component: () => import('./views/RunsView.vue') },
  { path: '/settings', name: 'settings', component: SettingsView, meta: { navLabel: 'Settings' } },
  { path: '/about', name: 'about', component: AboutView, meta: { navLabel: 'About' } },
]

export const defaultPath = '/chat'

export const navigation = pages.flatMap((page) => (page.meta?.navLabel ? [{ path: page.path, label: page.meta.navLabel }] : []))

/**
 * Hash history: the Electron window loads a file, and browser mode carries its
 * `?token=` in the query, which a hash route leaves untouched across reloads.
 */
export function createAppRouter(history: RouterHistory = createWebHashHistory()) {
  return createRouter({
    history,
    routes: [{ path: '/', redirect: defaultPath }, ...pages, { path: '/:unknown(.*)*', redirect: defaultPath }],
  })
}
