import { fileURLToPath } from 'node:url';

/**
 * The folder of the dashboard's built files (`npm run build`): `index.html` and `assets/`, whose
 * names carry a hash of their content. The gateway serves it under /ui.
 */
export const uiDir: string = fileURLToPath(new URL('./ui/', import.meta.url));
