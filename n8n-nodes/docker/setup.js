'use strict';
/**
 * Prepares an n8n user folder for the AI gateway, then exits:
 *
 * 1. installs the node pack where n8n loads community packages
 *    ($N8N_USER_FOLDER/.n8n/nodes/node_modules/n8n-nodes-ai-gateway), so node types
 *    are named exactly as when installed from npm;
 * 2. creates the two credentials the example workflows use, with a virtual key: the
 *    one in AI_GATEWAY_KEY, or one made through the gateway's admin API with
 *    AI_GATEWAY_MASTER_KEY on first start and kept in the user folder;
 * 3. imports the example workflows once (stable ids; the chat webhook placeholder
 *    replaced by AI_GATEWAY_CHAT_WEBHOOK_URL when set).
 *
 * Used by the Docker image's entrypoint and by the local `make` target. Needs only
 * Node (18 or newer) and the n8n CLI; run it before `n8n start`.
 */
const { execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const PACKAGE_NAME = 'n8n-nodes-ai-gateway';
const GATEWAY_CREDENTIAL = { id: 'aigwcredgateway1', name: 'AI Gateway account' };
const OPENAI_CREDENTIAL = { id: 'aigwcredopenai01', name: 'AI Gateway (OpenAI-compatible)' };
const CREDENTIAL_IDS = { aiGatewayApi: GATEWAY_CREDENTIAL.id, openAiApi: OPENAI_CREDENTIAL.id };
const METADATA_HEADER =
	'=workflow_id={{ $workflow.id }}; workflow_name={{ $workflow.name }}; ' +
	'execution_id={{ $execution.id }}';
const WEBHOOK_PLACEHOLDER = 'https://hooks.slack.com/services/REPLACE/WITH/YOURS';
const HEALTH_TIMEOUT_MS = 120000;

function readSettings(env) {
	const userFolder = env.N8N_USER_FOLDER || os.homedir();
	return {
		gatewayUrl: (env.AI_GATEWAY_URL || 'http://gateway:8080')
			.replace(/\/+$/, '')
			.replace(/\/v1$/, ''),
		key: env.AI_GATEWAY_KEY || '',
		masterKey: env.AI_GATEWAY_MASTER_KEY || '',
		pack: env.AI_GATEWAY_PACK || '/opt/ai-gateway/n8n-nodes-ai-gateway',
		workflows: env.AI_GATEWAY_WORKFLOWS || '/opt/ai-gateway/workflows',
		webhookUrl: env.AI_GATEWAY_CHAT_WEBHOOK_URL || '',
		n8n: env.N8N_BIN || 'n8n',
		dotN8n: path.join(userFolder, '.n8n'),
	};
}

function log(message) {
	console.log(`[ai-gateway setup] ${message}`);
}

function n8n(settings, ...args) {
	execFileSync(settings.n8n, args, { stdio: ['ignore', 'ignore', 'inherit'] });
}

function installPack(settings) {
	const target = path.join(settings.dotN8n, 'nodes', 'node_modules', PACKAGE_NAME);
	fs.rmSync(target, { recursive: true, force: true });
	fs.mkdirSync(path.dirname(target), { recursive: true });
	fs.cpSync(settings.pack, target, { recursive: true });
	log(`node pack installed in ${target}`);
}

async function waitForGateway(settings) {
	const deadline = Date.now() + HEALTH_TIMEOUT_MS;
	while (Date.now() < deadline) {
		try {
			const response = await fetch(`${settings.gatewayUrl}/healthz`);
			if (response.ok) return;
		} catch {
			// Not up yet: the gateway may start after n8n.
		}
		await new Promise((resolve) => setTimeout(resolve, 1000));
	}
	throw new Error(`the gateway at ${settings.gatewayUrl} did not answer /healthz`);
}

async function virtualKey(settings) {
	if (settings.key) return settings.key;

	const file = path.join(settings.dotN8n, 'ai-gateway-key');
	if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8').trim();
	if (!settings.masterKey) {
		throw new Error('set AI_GATEWAY_KEY (a virtual key) or AI_GATEWAY_MASTER_KEY (to create one)');
	}

	await waitForGateway(settings);
	const response = await fetch(`${settings.gatewayUrl}/admin/keys`, {
		method: 'POST',
		headers: { Authorization: `Bearer ${settings.masterKey}`, 'Content-Type': 'application/json' },
		body: JSON.stringify({ name: 'n8n' }),
	});
	if (!response.ok) {
		throw new Error(
			`the gateway refused to create a key: ${response.status} ${await response.text()}`,
		);
	}

	const { key } = await response.json();
	fs.mkdirSync(settings.dotN8n, { recursive: true });
	fs.writeFileSync(file, `${key}\n`, { mode: 0o600 });
	log('virtual key created through the admin API');
	return key;
}

function importCredentials(settings, key) {
	const credentials = [
		{
			...GATEWAY_CREDENTIAL,
			type: 'aiGatewayApi',
			data: { baseUrl: settings.gatewayUrl, apiKey: key },
		},
		{
			...OPENAI_CREDENTIAL,
			type: 'openAiApi',
			data: {
				apiKey: key,
				url: `${settings.gatewayUrl}/v1`,
				header: true,
				headerName: 'X-Gateway-Metadata',
				headerValue: METADATA_HEADER,
			},
		},
	];
	const file = path.join(settings.dotN8n, 'ai-gateway-credentials.json');
	fs.writeFileSync(file, JSON.stringify(credentials), { mode: 0o600 });
	try {
		n8n(settings, 'import:credentials', `--input=${file}`);
	} finally {
		fs.rmSync(file, { force: true });
	}
	log(`credentials "${GATEWAY_CREDENTIAL.name}" and "${OPENAI_CREDENTIAL.name}" ready`);
}

/** The workflow as imported: a stable id, credential ids and the chat webhook URL. */
function prepareWorkflow(settings, file) {
	let text = fs.readFileSync(path.join(settings.workflows, file), 'utf8');
	if (settings.webhookUrl) text = text.split(WEBHOOK_PLACEHOLDER).join(settings.webhookUrl);

	const workflow = JSON.parse(text);
	const stem = file.replace(/\.json$/, '');
	workflow.id = `aigw${crypto.createHash('sha256').update(stem).digest('hex').slice(0, 12)}`;
	for (const node of workflow.nodes) {
		for (const [type, reference] of Object.entries(node.credentials || {})) {
			if (CREDENTIAL_IDS[type]) reference.id = CREDENTIAL_IDS[type];
		}
	}
	return workflow;
}

function importWorkflows(settings) {
	const marker = path.join(settings.dotN8n, 'ai-gateway-workflows.json');
	if (fs.existsSync(marker)) {
		log('example workflows were imported before; leaving them as they are');
		return;
	}

	// One import of the whole folder: each n8n CLI command boots n8n (seconds).
	const folder = path.join(settings.dotN8n, 'ai-gateway-import');
	fs.rmSync(folder, { recursive: true, force: true });
	fs.mkdirSync(folder, { recursive: true });
	const imported = {};
	const files = fs.readdirSync(settings.workflows).filter((name) => /^\d{2}-.*\.json$/.test(name));
	for (const file of files.sort()) {
		const workflow = prepareWorkflow(settings, file);
		fs.writeFileSync(path.join(folder, file), JSON.stringify(workflow));
		imported[file] = workflow.id;
	}
	try {
		n8n(settings, 'import:workflow', '--separate', `--input=${folder}`);
	} finally {
		fs.rmSync(folder, { recursive: true, force: true });
	}

	fs.writeFileSync(marker, `${JSON.stringify(imported, null, 2)}\n`);
	log(`imported ${files.length} example workflows`);
}

async function main() {
	const settings = readSettings(process.env);
	fs.mkdirSync(settings.dotN8n, { recursive: true });
	installPack(settings);
	importCredentials(settings, await virtualKey(settings));
	importWorkflows(settings);
}

main().catch((error) => {
	console.error(`[ai-gateway setup] failed: ${error.message}`);
	process.exit(1);
});
