import type { IDataObject } from 'n8n-workflow';
import { NodeApiError } from 'n8n-workflow';
import { describe, expect, it } from 'vitest';

import { route } from '../nodes/AiGateway/router';
import { completion, fakeContext, gatewayError } from './context';

const parameters = {
	resource: 'text',
	operation: 'classify',
	model: { __rl: true, mode: 'id', value: 'gpt-4o-mini' },
	text: 'Invoice question',
	categories: { category: [{ name: 'billing' }, { name: 'other' }] },
	options: { fallbackModel: 'demo' },
};

describe('fallback model', () => {
	it.each([
		[404, 'not_found_error'],
		[429, 'rate_limit_error'],
		[502, 'provider_unavailable'],
		[504, 'timeout'],
	])('should ask the fallback model once when the gateway answers %i', async (status, type) => {
		const { ctx, requests } = fakeContext({
			parameters,
			answers: [
				gatewayError(status, 'main model failed', type),
				completion('{"category": "billing"}'),
			],
		});

		const [[item]] = await route.call(ctx);

		expect(requests.map((request) => (request.body as IDataObject).model)).toEqual([
			'gpt-4o-mini',
			'demo',
		]);
		expect(item.json).toMatchObject({
			category: 'billing',
			gateway: { model: 'demo', fallback_from: 'gpt-4o-mini' },
		});
	});

	it.each([
		[400, 'invalid_request_error'],
		[401, 'authentication_error'],
		[403, 'permission_error'],
	])('should not fall back when the gateway answers %i', async (status, type) => {
		const { ctx, requests } = fakeContext({
			parameters,
			answers: [gatewayError(status, 'refused', type)],
		});

		await expect(route.call(ctx)).rejects.toBeInstanceOf(NodeApiError);
		expect(requests).toHaveLength(1);
	});

	it('should throw the fallback model error when the fallback fails too', async () => {
		const { ctx } = fakeContext({
			parameters,
			answers: [
				gatewayError(502, 'main model failed', 'provider_unavailable'),
				gatewayError(503, 'demo is down', 'provider_unavailable'),
			],
		});

		await expect(route.call(ctx)).rejects.toThrow('demo is down');
	});

	it('should not retry when no fallback model is set', async () => {
		const { ctx, requests } = fakeContext({
			parameters: { ...parameters, options: { fallbackModel: '  ' } },
			answers: [gatewayError(502, 'main model failed', 'provider_unavailable')],
		});

		await expect(route.call(ctx)).rejects.toThrow('main model failed');
		expect(requests).toHaveLength(1);
	});
});
