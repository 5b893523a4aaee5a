/** Figures as the tuning pages show them. */

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '—'
  if (seconds < 1) return '< 1 s'
  if (seconds < 90) return `${Math.round(seconds)} s`
  const minutes = seconds / 60
  if (minutes < 90) return `${Math.round(minutes)} min`
  const hours = Math.floor(minutes / 60)
  const rest = Math.round(minutes - hours * 60)
  if (hours < 48) return rest ? `${hours} h ${rest} min` : `${hours} h`
  return `${Math.round(hours / 24)} days`
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value >= 100 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`
}

/** 1234567 → "1.2M"; small numbers as they are. */
export function formatCount(n: number): string {
  if (n >= 1e15) return `${(n / 1e15).toFixed(1)}P`
  if (n >= 1e12) return `${(n / 1e12).toFixed(1)}T`
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`
  return String(Math.round(n))
}

export function formatLoss(loss: number | null | undefined): string {
  return loss === null || loss === undefined || !Number.isFinite(loss) ? '—' : loss.toFixed(4)
}

/** A folder for the tuned model: `<dataDir>/models/<base>-<mode>-<yyyymmdd-hhmmss>`, in the data folder's own separator. */
export function defaultOutDir(dataDir: string, baseName: string, mode: string, now: Date): string {
  const separator = dataDir.includes('\\') && !dataDir.includes('/') ? '\\' : '/'
  const pad = (n: number) => String(n).padStart(2, '0')
  const stamp = `${now.getFullYear()}${pad(now.getMonth() + 1)}${pad(now.getDate())}-${pad(now.getHours())}${pad(now.getMinutes())}${pad(now.getSeconds())}`
  const safe = baseName.replace(/[^A-Za-z0-9._-]+/g, '_') || 'model'
  return [dataDir.replace(/[\\/]+$/, ''), 'models', `${safe}-${mode}-${stamp}`].join(separator)
}

/** The last part of a path, whichever separator it uses. */
export function baseName(path: string): string {
  return path.replace(/[\\/]+$/, '').split(/[\\/]/).at(-1) ?? path
}
