/**
 * The checker for workflows/*.json (house style for example workflows): each file
 * parses, is wired by real node names, uses only n8n's and this pack's node types,
 * is exported clean (no ids of an instance, credential or version, no pinned data,
 * no keys, no hostnames), keeps its sticky note and grid, is formatted with this
 * pack's Prettier settings and has its row in workflows/README.md.
 */
import type { INodeProperties } from 'n8n-workflow';
import * as prettier from 'prettier';
import { describe, expect, it } from 'vitest';

import prettierOptions from '../.prettierrc.js';
import { AiGateway } from '../nodes/AiGateway/AiGateway.node';
import { AiGatewayChatModel } from '../nodes/AiGatewayChatModel/AiGatewayChatModel.node';
import packageJson from '../package.json';

// Read through Vite (as text) rather than the file system, which the community
// node rules keep out of a node pack.
const WORKFLOW_TEXTS = import.meta.glob<string>('../../workflows/*.json', {
	eager: true,
	query: '?raw',
	import: 'default',
});
const README = Object.values(
	import.meta.glob<string>('../../workflows/README.md', {
		eager: true,
		query: '?raw',
		import: 'default',
	}),
)[0];
const FILE_NAME = /^\d{2}-[a-z0-9]+(?:-[a-z0-9]+)*\.json$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const PACK_TYPES = packageJson.n8n.nodes.map(
	(path) =>
		`${packageJson.name}.${path
			.split('/')
			.pop()!
			.replace('.node.js', '')
			.replace(/^./, (c) => c.toLowerCase())}`,
);
// What each node of this pack declares, to catch parameters a workflow kept from an
// older version of the pack (n8n would ignore them silently).
const PACK_PROPERTIES: Record<string, INodeProperties[]> = Object.fromEntries(
	[new AiGateway(), new AiGatewayChatModel()].map(({ description }) => [
		`${packageJson.name}.${description.name}`,
		description.properties,
	]),
);
const TYPE_PREFIXES = ['n8n-nodes-base.', '@n8n/n8n-nodes-langchain.'];
const CREDENTIAL_NAMES: Record<string, string> = {
	aiGatewayApi: 'AI Gateway account',
	openAiApi: 'AI Gateway (OpenAI-compatible)',
};
const KEY_SHAPED = /\b(?:sk|mk|rk)-[A-Za-z0-9_-]{12,}/;
const LOCAL_HOST = /\b(?:localhost|127\.0\.0\.1|0\.0\.0\.0)\b/;
const CLEAN_TOP_LEVEL = ['name', 'nodes', 'connections', 'active', 'settings'];

interface WorkflowNode {
	id: string;
	name: string;
	type: string;
	typeVersion: number;
	position: [number, number];
	parameters: Record<string, unknown>;
	credentials?: Record<string, Record<string, unknown>>;
}

type Connections = Record<string, Record<string, Array<Array<{ node: string; type: string }>>>>;

interface Workflow {
	name: string;
	nodes: WorkflowNode[];
	connections: Connections;
	active: boolean;
	settings: { executionOrder?: string };
}

const files = Object.keys(WORKFLOW_TEXTS)
	.map((path) => path.split('/').pop() as string)
	.sort();

function load(file: string): { text: string; workflow: Workflow } {
	const text = WORKFLOW_TEXTS[`../../workflows/${file}`];
	return { text, workflow: JSON.parse(text) as Workflow };
}

/** The option names of every collection parameter called `name`. */
function declaredOptions(properties: INodeProperties[], name: string): Set<string> {
	const collections = properties.filter(
		(property) => property.name === name && property.type === 'collection',
	);
	const options = collections.flatMap((property) => property.options ?? []);
	return new Set(options.map((option) => option.name));
}

function titleCase(name: string): boolean {
	const small = new Set([
		'a',
		'an',
		'and',
		'as',
		'by',
		'for',
		'in',
		'into',
		'of',
		'on',
		'or',
		'the',
		'to',
		'via',
		'with',
	]);
	return name.split(' ').every((word, index) => {
		if (index > 0 && small.has(word)) return true;
		return /^[A-Z0-9(]/.test(word);
	});
}

it('should have at least seven example workflows', () => {
	expect(files.length).toBeGreaterThanOrEqual(7);
});

it('should give every node a fresh id, unique across all workflows', () => {
	const ids = files.flatMap((file) => load(file).workflow.nodes.map((node) => node.id));

	expect(new Set(ids).size).toBe(ids.length);
	expect(ids.filter((id) => !UUID.test(id))).toEqual([]);
});

describe.each(files)('%s', (file) => {
	const { text, workflow } = load(file);
	const names = workflow.nodes.map((node) => node.name);

	it('should be named NN-kebab-purpose.json with a Title Case workflow name', () => {
		expect(file).toMatch(FILE_NAME);
		expect(titleCase(workflow.name)).toBe(true);
	});

	it('should be exported clean', () => {
		expect(Object.keys(workflow).sort()).toEqual([...CLEAN_TOP_LEVEL].sort());
		expect(workflow.active).toBe(false);
		expect(workflow.settings).toEqual({ executionOrder: 'v1' });
		expect(text).not.toMatch(/instanceId|versionId|pinData|webhookId/);
		expect(text).not.toMatch(KEY_SHAPED);
		expect(text).not.toMatch(LOCAL_HOST);
	});

	it('should reference credentials by their documented names only', () => {
		for (const node of workflow.nodes) {
			for (const [type, reference] of Object.entries(node.credentials ?? {})) {
				expect(reference).toEqual({ name: CREDENTIAL_NAMES[type] });
			}
		}
	});

	it('should use unique node names and pinned versions of known node types', () => {
		expect(new Set(names).size).toBe(names.length);
		for (const node of workflow.nodes) {
			const known =
				PACK_TYPES.includes(node.type) ||
				TYPE_PREFIXES.some((prefix) => node.type.startsWith(prefix));
			expect(known, `${node.name}: ${node.type}`).toBe(true);
			expect(typeof node.typeVersion).toBe('number');
		}
	});

	it('should set only parameters and options the pack nodes declare', () => {
		for (const node of workflow.nodes) {
			const properties = PACK_PROPERTIES[node.type];
			if (!properties) continue;
			const declared = new Set(properties.map((property) => property.name));
			for (const [name, value] of Object.entries(node.parameters)) {
				expect(declared.has(name), `${node.name}: ${name}`).toBe(true);
				const options = declaredOptions(properties, name);
				if (options.size === 0) continue;
				for (const option of Object.keys(value as object)) {
					expect(options.has(option), `${node.name}: ${name}.${option}`).toBe(true);
				}
			}
		}
	});

	it('should connect only real nodes', () => {
		for (const [source, outputs] of Object.entries(workflow.connections)) {
			expect(names).toContain(source);
			for (const [kind, groups] of Object.entries(outputs)) {
				for (const target of groups.flat()) {
					expect(names).toContain(target.node);
					expect(target.type).toBe(kind);
				}
			}
		}
	});

	it('should use the node pack and start from a Manual Trigger', () => {
		const types = workflow.nodes.map((node) => node.type);
		expect(types).toContain('n8n-nodes-base.manualTrigger');
		const usesGateway = types.some((type) => PACK_TYPES.includes(type));
		const usesGatewayCredential = text.includes(CREDENTIAL_NAMES.openAiApi);
		expect(usesGateway || usesGatewayCredential).toBe(true);
	});

	it('should have one sticky note at the top left and the other nodes on the grid', () => {
		const [sticky, ...others] = [...workflow.nodes].sort((a, b) =>
			a.type === 'n8n-nodes-base.stickyNote' ? -1 : b.type === 'n8n-nodes-base.stickyNote' ? 1 : 0,
		);
		expect(sticky.type).toBe('n8n-nodes-base.stickyNote');
		expect(others.filter((node) => node.type === 'n8n-nodes-base.stickyNote')).toEqual([]);
		for (const node of others) {
			const [x, y] = node.position;
			expect(x % 220, node.name).toBe(0);
			expect(y % 200, node.name).toBe(0);
			expect(x >= sticky.position[0] && y >= sticky.position[1], node.name).toBe(true);
		}
	});

	it('should have a row in workflows/README.md', () => {
		expect(README).toContain(`[${file}](${file})`);
	});

	it("should be formatted with the node pack's Prettier settings", async () => {
		expect(await prettier.check(text, { ...prettierOptions, parser: 'json' })).toBe(true);
	});
});
