import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
	// The nodes are CommonJS, as n8n loads them; n8n-workflow's ESM build only works
	// bundled, so tests load its CommonJS build the way n8n does.
	resolve: { alias: { 'n8n-workflow': require.resolve('n8n-workflow') } },
	test: {
		include: ['test/**/*.test.ts'],
		server: { deps: { external: [/node_modules/] } },
	},
});
