/** `npm run bench:cluster`: see scenarios/cluster.ts. */
import { clusterSettings, runCluster } from './scenarios/cluster.js';

await runCluster(clusterSettings(process.env));
