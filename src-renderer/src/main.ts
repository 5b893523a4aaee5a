import { createPinia } from 'pinia'
import { createApp } from 'vue'
import App from './App.vue'
import { createClient } from './api/client'
import { provideApi } from './api/use-api'
import { createAppRouter } from './router'
import './styles/global.css'

const client = createClient()
if (client) {
  const app = createApp(App)
  provideApi(app, client)
  app.use(createPinia())
  app.use(createAppRouter())
  app.mount('#app')
} else {
  showMissingToken(document.getElementById('app')!)
}

/** Browser mode opened without its token: say how to get in rather than show an app that cannot connect. */
function showMissingToken(root: HTMLElement): void {
  const heading = document.createElement('h1')
  heading.textContent = 'Sorted Studio needs its access address'
  const text = document.createElement('p')
  text.textContent =
    'Open the address that `sorted serve` (or `npm start`) printed when it started: it ends in ?token=… and changes at every launch.'
  text.dataset.testid = 'missing-token'
  root.replaceChildren(heading, text)
}
