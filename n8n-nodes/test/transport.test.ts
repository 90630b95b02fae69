import { NodeApiError } from 'n8n-workflow';
import { describe, expect, it } from 'vitest';

import { buildAttributionHeaders, encodeHeaderValue } from '../nodes/AiGateway/shared/attribution';
import {
	gatewayRequest,
	normalizeBaseUrl,
	readFacts,
	toGatewayError,
} from '../nodes/AiGateway/shared/transport';
import { NODE, completion, fakeContext, gatewayError } from './context';

describe('gatewayRequest', () => {
	it('should send the attribution headers and the credential when calling the gateway', async () => {
		const { ctx, requests, credentialTypes } = fakeContext({
			parameters: {},
			answers: [completion('hi')],
		});

		await gatewayRequest(ctx, 0, {
			method: 'POST',
			path: '/v1/chat/completions',
			body: { model: 'demo' },
			tags: 'team=support',
		});

		expect(credentialTypes).toEqual(['aiGatewayApi']);
		expect(requests[0]).toMatchObject({
			method: 'POST',
			baseURL: 'http://gateway.test:8080',
			url: '/v1/chat/completions',
			body: { model: 'demo' },
			json: true,
			returnFullResponse: true,
			ignoreHttpStatusErrors: true,
			headers: {
				'X-Workflow-Id': 'wf-triage-01',
				'X-Workflow-Name': 'Triage Support Email',
				'X-Execution-Id': '4242',
				'X-Node-Name': 'Classify Email via Gateway',
				'X-Tags': 'team=support',
			},
		});
	});

	it('should return the body and the facts of the x_gateway object when the call succeeds', async () => {
		const { ctx } = fakeContext({ parameters: {}, answers: [completion('hi', 'gpt-4o-mini')] });

		const { facts } = await gatewayRequest(ctx, 0, {
			method: 'POST',
			path: '/v1/chat/completions',
		});

		expect(facts).toMatchObject({
			request_id: 'req_0001',
			provider: 'demo',
			model: 'gpt-4o-mini',
			target: 'demo/gpt-4o-mini',
			prompt_tokens: 40,
			completion_tokens: 8,
			total_tokens: 48,
			cost_usd: 0.0000108,
			tokens_estimated: false,
		});
	});

	it('should throw NodeApiError with the gateway message when the gateway answers an error', async () => {
		const { ctx } = fakeContext({
			parameters: {},
			answers: [gatewayError(404, "model 'gpt-9' is not served here", 'not_found_error')],
		});

		const call = gatewayRequest(ctx, 3, { method: 'POST', path: '/v1/chat/completions' });

		await expect(call).rejects.toBeInstanceOf(NodeApiError);
		await call.catch((error: NodeApiError) => {
			expect(error.message).toBe("model 'gpt-9' is not served here");
			expect(error.description).toBe('type: not_found_error, request id: req_err_1');
			expect(error.httpCode).toBe('404');
			expect(error.context.itemIndex).toBe(3);
		});
	});

	it('should throw NodeApiError naming the gateway when it cannot be reached', async () => {
		const { ctx } = fakeContext({
			parameters: {},
			answers: [new Error('getaddrinfo EAI_AGAIN gateway.test')],
		});

		const call = gatewayRequest(ctx, 0, { method: 'GET', path: '/v1/spend' });

		await expect(call).rejects.toBeInstanceOf(NodeApiError);
		await call.catch((error: NodeApiError) => {
			expect(error.description).toContain('EAI_AGAIN');
		});
	});
});

describe('toGatewayError', () => {
	it('should say the status when the error answer has no error body', () => {
		const error = toGatewayError(NODE, 502, '<html>Bad gateway</html>', 0);

		expect(error.message).toBe('The gateway answered HTTP 502 without an error body');
		expect(error.httpCode).toBe('502');
	});
});

describe('readFacts', () => {
	it('should read the x-gateway headers when the body has no x_gateway object', () => {
		const facts = readFacts(
			{
				'x-request-id': 'req_9',
				'x-gateway-provider': 'openai',
				'x-gateway-model': 'gpt-4o-mini',
				'x-gateway-target': 'openai/gpt-4o-mini',
				'x-gateway-prompt-tokens': '12',
				'x-gateway-completion-tokens': '3',
				'x-gateway-tokens-estimated': 'true',
				'x-gateway-cost-usd': '0.00042',
				'x-gateway-attempts': '2',
			},
			{ object: 'list' },
		);

		expect(facts).toMatchObject({
			request_id: 'req_9',
			provider: 'openai',
			model: 'gpt-4o-mini',
			target: 'openai/gpt-4o-mini',
			prompt_tokens: 12,
			completion_tokens: 3,
			total_tokens: 15,
			tokens_estimated: true,
			cost_usd: 0.00042,
			attempts: 2,
			cached_tokens: null,
		});
	});
});

describe('normalizeBaseUrl', () => {
	it.each([
		['http://localhost:8080', 'http://localhost:8080'],
		['http://localhost:8080/', 'http://localhost:8080'],
		['http://localhost:8080/v1', 'http://localhost:8080'],
		[' https://ai.example.com/v1/ ', 'https://ai.example.com'],
	])('should turn %s into %s', (input, expected) => {
		expect(normalizeBaseUrl(input)).toBe(expected);
	});
});

describe('attribution headers', () => {
	it('should percent-encode a value that is not printable ASCII', () => {
		expect(encodeHeaderValue('Rechnungen prüfen')).toBe('Rechnungen%20pr%C3%BCfen');
		expect(encodeHeaderValue('Triage (v2)')).toBe('Triage (v2)');
	});

	it('should leave out empty values when the workflow is unsaved and no tags are set', () => {
		const { ctx } = fakeContext({ parameters: {} });
		ctx.getWorkflow = () => ({ id: undefined, name: undefined, active: false });

		expect(buildAttributionHeaders(ctx)).toEqual({
			'X-Execution-Id': '4242',
			'X-Node-Name': 'Classify Email via Gateway',
		});
	});
});
