import { createPinia } from 'pinia'
import { createApp } from 'vue'
import App from './App.vue'
import { createClient } from './api/client'
import { provideApi } from './api/use-api'
import { createAppRouter } from './router'
import './styles/global.css'

const app = createApp(App)
provideApi(app, createClient())
app.use(createPinia())
app.use(createAppRouter())
app.mount('#app')
