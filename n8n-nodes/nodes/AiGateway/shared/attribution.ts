import type { IExecuteFunctions } from 'n8n-workflow';

/** The parts of an n8n function context that identify the running step. */
export type StepContext = Pick<IExecuteFunctions, 'getWorkflow' | 'getExecutionId' | 'getNode'>;

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/**
 * Header values must be Latin-1 on the wire; anything beyond printable ASCII (a
 * workflow called "Rechnungen prüfen") is sent percent-encoded as UTF-8.
 */
export function encodeHeaderValue(value: string): string {
	return PRINTABLE_ASCII.test(value) ? value : encodeURIComponent(value);
}

/**
 * The attribution headers the gateway records with every call: the workflow's id and
 * name, the execution id and the node's name, plus free tags when given.
 */
export function buildAttributionHeaders(ctx: StepContext, tags = ''): Record<string, string> {
	const workflow = ctx.getWorkflow();
	const values: Record<string, string | undefined> = {
		'X-Workflow-Id': workflow.id,
		'X-Workflow-Name': workflow.name,
		'X-Execution-Id': ctx.getExecutionId(),
		'X-Node-Name': ctx.getNode().name,
		'X-Tags': tags.trim(),
	};

	const headers: Record<string, string> = {};
	for (const [name, value] of Object.entries(values)) {
		if (value) headers[name] = encodeHeaderValue(String(value));
	}

	return headers;
}
