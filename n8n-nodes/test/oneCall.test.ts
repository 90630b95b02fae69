import type { IDataObject } from 'n8n-workflow';
import { NodeApiError } from 'n8n-workflow';
import { describe, expect, it } from 'vitest';

import { route } from '../nodes/AiGateway/router';
import { completion, fakeContext, gatewayError } from './context';

const parameters = {
	resource: 'text',
	operation: 'classify',
	model: { __rl: true, mode: 'id', value: 'fast' },
	text: 'Invoice question',
	categories: { category: [{ name: 'billing' }, { name: 'other' }] },
	options: {},
};

describe('one gateway call per item', () => {
	it.each([
		[400, 'invalid_request_error'],
		[404, 'not_found_error'],
		[408, 'timeout'],
		[429, 'rate_limit_error'],
		[502, 'provider_unavailable'],
		[503, 'provider_unavailable'],
	])(
		'should call once and throw the gateway message as NodeApiError when it answers %i',
		async (status, type) => {
			const { ctx, requests } = fakeContext({
				parameters,
				answers: [gatewayError(status, 'every target of fast failed', type)],
			});

			const call = route.call(ctx);

			await expect(call).rejects.toBeInstanceOf(NodeApiError);
			await call.catch((error: NodeApiError) => {
				expect(error.message).toBe('every target of fast failed');
				expect(error.httpCode).toBe(String(status));
				expect(error.context.itemIndex).toBe(0);
			});
			expect(requests).toHaveLength(1);
		},
	);

	it('should ignore the fallbackModel option of a workflow saved by an older pack', async () => {
		const { ctx, requests } = fakeContext({
			parameters: { ...parameters, options: { fallbackModel: 'demo' } },
			answers: [gatewayError(503, 'every target of fast failed', 'provider_unavailable')],
		});

		await expect(route.call(ctx)).rejects.toThrow('every target of fast failed');
		expect(requests).toHaveLength(1);
		expect(Object.keys(requests[0].body as IDataObject).sort()).toEqual([
			'messages',
			'model',
			'response_format',
		]);
	});

	it('should output the failed item and call once for each other item when continue on fail is set', async () => {
		const { ctx, requests } = fakeContext({
			parameters,
			items: [{}, {}],
			continueOnFail: true,
			answers: [
				gatewayError(503, 'every target of fast failed', 'provider_unavailable'),
				completion('{"category": "billing"}'),
			],
		});

		const [output] = await route.call(ctx);

		expect(requests.map((request) => (request.body as IDataObject).model)).toEqual([
			'fast',
			'fast',
		]);
		expect(output).toEqual([
			{
				json: {
					error: 'every target of fast failed',
					description: 'type: provider_unavailable, request id: req_err_1',
					httpCode: '503',
				},
				pairedItem: { item: 0 },
			},
			{ json: expect.objectContaining({ category: 'billing' }), pairedItem: { item: 1 } },
		]);
	});

	it("should report the gateway's target and attempts when the gateway fell back", async () => {
		const { ctx } = fakeContext({
			parameters,
			answers: [completion('{"category": "billing"}', 'demo', { attempts: 3 })],
		});

		const [[item]] = await route.call(ctx);

		expect(item.json).toMatchObject({
			category: 'billing',
			gateway: { model: 'demo', target: 'demo/demo', attempts: 3 },
		});
	});
});
