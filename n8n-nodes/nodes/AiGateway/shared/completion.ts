import type { IDataObject, IExecuteFunctions, JsonObject } from 'n8n-workflow';
import { NodeApiError, NodeOperationError } from 'n8n-workflow';

import { gatewayRequest } from './transport';
import type {
	ChatCompletion,
	ChatCompletionRequest,
	GatewayFacts,
	JsonSchemaFormat,
} from './types';

/** Options every model-calling operation shares (the node's "Options" collection). */
export interface CompletionOptions {
	temperature?: number;
	maxTokens?: number;
	fallbackModel?: string;
	tags?: string;
}

export interface CompletionResult {
	content: string;
	finishReason: string | null;
	facts: GatewayFacts;
}

// Statuses after which another model may succeed: the model is unknown or its
// provider is failing. Bad input (400) and key problems (401, 403) fail the same way
// on any model.
const FALLBACK_STATUSES = new Set(['404', '408', '409', '429', '500', '502', '503', '504']);

export function shouldFallBack(error: unknown, model: string, fallbackModel?: string): boolean {
	if (!fallbackModel || fallbackModel === model) return false;
	if (!(error instanceof NodeApiError)) return false;

	return FALLBACK_STATUSES.has(String(error.httpCode));
}

/** Builds a chat completion body from the node's options; unset options are omitted. */
export function buildChatRequest(
	model: string,
	messages: ChatCompletionRequest['messages'],
	options: CompletionOptions,
	responseFormat?: JsonSchemaFormat,
): ChatCompletionRequest {
	const request: ChatCompletionRequest = { model, messages };
	if (options.temperature !== undefined) request.temperature = options.temperature;
	if (options.maxTokens) request.max_tokens = options.maxTokens;
	if (responseFormat) request.response_format = responseFormat;

	return request;
}

export function jsonSchemaFormat(name: string, schema: IDataObject): JsonSchemaFormat {
	return { type: 'json_schema', json_schema: { name, strict: true, schema } };
}

async function sendCompletion(
	ctx: IExecuteFunctions,
	itemIndex: number,
	request: ChatCompletionRequest,
	tags?: string,
): Promise<CompletionResult> {
	const { body, facts } = await gatewayRequest<ChatCompletion>(ctx, itemIndex, {
		method: 'POST',
		path: '/v1/chat/completions',
		body: request as unknown as IDataObject,
		tags,
	});

	const choice = body.choices?.[0];
	facts.model ??= body.model ?? request.model;

	return {
		content: choice?.message?.content ?? '',
		finishReason: choice?.finish_reason ?? null,
		facts,
	};
}

/**
 * Sends a chat completion; when the gateway cannot serve the requested model and a
 * fallback model is set, sends the same request once more on the fallback model.
 */
export async function runCompletion(
	ctx: IExecuteFunctions,
	itemIndex: number,
	request: ChatCompletionRequest,
	options: CompletionOptions,
): Promise<CompletionResult> {
	try {
		return await sendCompletion(ctx, itemIndex, request, options.tags);
	} catch (error) {
		if (!shouldFallBack(error, request.model, options.fallbackModel)) {
			throw new NodeApiError(ctx.getNode(), error as JsonObject, { itemIndex });
		}

		const fallback = { ...request, model: options.fallbackModel as string };
		const result = await sendCompletion(ctx, itemIndex, fallback, options.tags);
		result.facts.fallback_from = request.model;

		return result;
	}
}

/** Parses a model's JSON answer; tolerates a Markdown code fence around it. */
export function parseJsonContent(
	ctx: IExecuteFunctions,
	itemIndex: number,
	content: string,
): IDataObject {
	const unfenced = content
		.trim()
		.replace(/^```(?:json)?\s*/i, '')
		.replace(/\s*```$/, '');

	let parsed: unknown;
	try {
		parsed = JSON.parse(unfenced);
	} catch {
		throw new NodeOperationError(ctx.getNode(), 'The model did not answer with valid JSON', {
			itemIndex,
			description: `Answer: ${content.slice(0, 300)}`,
		});
	}

	const isObject = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
	return isObject ? (parsed as IDataObject) : { data: parsed as IDataObject };
}
