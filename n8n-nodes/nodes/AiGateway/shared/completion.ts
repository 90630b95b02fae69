import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

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
	tags?: string;
}

export interface CompletionResult {
	content: string;
	finishReason: string | null;
	facts: GatewayFacts;
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

/**
 * Sends one chat completion to the gateway. Retries and fallbacks to other models are
 * the gateway's job (a route with several targets), so a failure here is final: it is
 * thrown as NodeApiError with the gateway's message.
 */
export async function runCompletion(
	ctx: IExecuteFunctions,
	itemIndex: number,
	request: ChatCompletionRequest,
	options: CompletionOptions,
): Promise<CompletionResult> {
	const { body, facts } = await gatewayRequest<ChatCompletion>(ctx, itemIndex, {
		method: 'POST',
		path: '/v1/chat/completions',
		body: request as unknown as IDataObject,
		tags: options.tags,
	});

	const choice = body.choices?.[0];
	facts.model ??= body.model ?? request.model;

	return {
		content: choice?.message?.content ?? '',
		finishReason: choice?.finish_reason ?? null,
		facts,
	};
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
