import type {
	IDataObject,
	IExecuteFunctions,
	IHttpRequestMethods,
	IHttpRequestOptions,
	INode,
	JsonObject,
} from 'n8n-workflow';
import { NodeApiError } from 'n8n-workflow';

import { buildAttributionHeaders } from './attribution';
import type { GatewayErrorBody, GatewayFacts, GatewayResponse } from './types';

export const CREDENTIAL_TYPE = 'aiGatewayApi';

export interface GatewayCall {
	method: IHttpRequestMethods;
	path: string;
	body?: IDataObject;
	qs?: IDataObject;
	tags?: string;
}

interface FullResponse {
	statusCode: number;
	headers: IDataObject;
	body: unknown;
}

/** The gateway's root URL from what users paste: trailing slashes and `/v1` removed. */
export function normalizeBaseUrl(url: string): string {
	return url.trim().replace(/\/+$/, '').replace(/\/v1$/, '');
}

/**
 * The one request function: sends a call to the gateway with the step's attribution
 * headers and returns the parsed body with the gateway's facts (model, tokens, cost,
 * request id). Throws NodeApiError carrying the gateway's own message.
 */
export async function gatewayRequest<T>(
	ctx: IExecuteFunctions,
	itemIndex: number,
	call: GatewayCall,
): Promise<GatewayResponse<T>> {
	const credentials = await ctx.getCredentials(CREDENTIAL_TYPE, itemIndex);
	const baseURL = normalizeBaseUrl(String(credentials.baseUrl));
	const options: IHttpRequestOptions = {
		method: call.method,
		baseURL,
		url: call.path,
		headers: buildAttributionHeaders(ctx, call.tags),
		json: true,
		returnFullResponse: true,
		ignoreHttpStatusErrors: true,
	};
	if (call.body) options.body = call.body;
	if (call.qs) options.qs = call.qs;

	let response: FullResponse;
	try {
		response = (await ctx.helpers.httpRequestWithAuthentication.call(
			ctx,
			CREDENTIAL_TYPE,
			options,
		)) as FullResponse;
	} catch (error) {
		throw new NodeApiError(ctx.getNode(), error as JsonObject, {
			itemIndex,
			message: `The gateway at ${baseURL} could not be reached`,
			description: (error as Error).message,
		});
	}

	if (response.statusCode >= 400) {
		throw toGatewayError(ctx.getNode(), response.statusCode, response.body, itemIndex);
	}

	return { body: response.body as T, facts: readFacts(response.headers, response.body) };
}

function isGatewayErrorBody(body: unknown): body is GatewayErrorBody {
	const error = (body as GatewayErrorBody | null)?.error;
	return typeof error === 'object' && error !== null && typeof error.message === 'string';
}

/** Maps a gateway error answer to NodeApiError: the gateway's message, its type and id. */
export function toGatewayError(
	node: INode,
	statusCode: number,
	body: unknown,
	itemIndex: number,
): NodeApiError {
	const httpCode = String(statusCode);
	if (!isGatewayErrorBody(body)) {
		return new NodeApiError(node, { body: String(body ?? '') } as JsonObject, {
			itemIndex,
			httpCode,
			message: `The gateway answered HTTP ${statusCode} without an error body`,
		});
	}

	const { message, type, code, request_id: requestId } = body.error;
	const details = [
		type ? `type: ${type}` : '',
		code ? `code: ${code}` : '',
		requestId ? `request id: ${requestId}` : '',
	].filter(Boolean);

	return new NodeApiError(node, body as unknown as JsonObject, {
		itemIndex,
		httpCode,
		message,
		description: details.join(', ') || undefined,
	});
}

const FACT_HEADERS: Record<string, string> = {
	'x-request-id': 'request_id',
	'x-gateway-provider': 'provider',
	'x-gateway-model': 'model',
	'x-gateway-target': 'target',
	'x-gateway-prompt-tokens': 'prompt_tokens',
	'x-gateway-completion-tokens': 'completion_tokens',
	'x-gateway-cached-tokens': 'cached_tokens',
	'x-gateway-reasoning-tokens': 'reasoning_tokens',
	'x-gateway-tokens-estimated': 'tokens_estimated',
	'x-gateway-cost-usd': 'cost_usd',
	'x-gateway-overhead-ms': 'overhead_ms',
	'x-gateway-attempts': 'attempts',
};

const TEXT_FACTS = new Set(['request_id', 'provider', 'model', 'target']);

function parseFact(name: string, value: unknown): string | number | boolean | null {
	if (value === undefined || value === null || value === '') return null;
	if (TEXT_FACTS.has(name)) return String(value);
	if (name === 'tokens_estimated') return value === true || value === 'true';

	const number = Number(value);
	return Number.isFinite(number) ? number : null;
}

/**
 * The gateway's facts about a call, from the body's `x_gateway` object where present
 * and the `x-gateway-*` response headers otherwise.
 */
export function readFacts(headers: IDataObject, body: unknown): GatewayFacts {
	const fromBody = ((body as IDataObject | null)?.x_gateway ?? {}) as IDataObject;
	const facts: GatewayFacts = {
		request_id: null,
		provider: null,
		model: null,
		target: null,
		prompt_tokens: null,
		completion_tokens: null,
		total_tokens: null,
		cached_tokens: null,
		reasoning_tokens: null,
		tokens_estimated: null,
		cost_usd: null,
		overhead_ms: null,
		attempts: null,
	};

	for (const [header, name] of Object.entries(FACT_HEADERS)) {
		const value = fromBody[name] ?? headers[header];
		(facts as IDataObject)[name] = parseFact(name, value);
	}

	if (facts.prompt_tokens !== null || facts.completion_tokens !== null) {
		facts.total_tokens = (facts.prompt_tokens ?? 0) + (facts.completion_tokens ?? 0);
	}

	return facts;
}
