import { NodeOperationError } from 'n8n-workflow';
import { describe, expect, it } from 'vitest';

import { route } from '../nodes/AiGateway/router';
import { completion, fakeContext, gatewayError } from './context';

const parameters = {
	resource: 'text',
	operation: 'summarize',
	model: { __rl: true, mode: 'list', value: 'demo' },
	text: 'Some text',
	targetWords: 20,
	format: 'paragraph',
	options: {},
};

describe('router', () => {
	it('should pair every output item with its input item', async () => {
		const { ctx } = fakeContext({
			parameters,
			items: [{ n: 1 }, { n: 2 }, { n: 3 }],
			answers: [completion('one'), completion('two'), completion('three')],
		});

		const [output] = await route.call(ctx);

		expect(output.map((item) => [item.json.summary, item.pairedItem])).toEqual([
			['one', { item: 0 }],
			['two', { item: 1 }],
			['three', { item: 2 }],
		]);
	});

	it('should output the error for the failed item and go on when continue on fail is set', async () => {
		const { ctx } = fakeContext({
			parameters: (itemIndex) => (itemIndex === 1 ? { ...parameters, text: '' } : parameters),
			items: [{}, {}, {}],
			continueOnFail: true,
			answers: [completion('one'), gatewayError(429, 'key budget exhausted', 'rate_limit_error')],
		});

		const [output] = await route.call(ctx);

		expect(output).toEqual([
			{ json: expect.objectContaining({ summary: 'one' }), pairedItem: { item: 0 } },
			{ json: { error: 'Text is empty' }, pairedItem: { item: 1 } },
			{
				json: {
					error: 'key budget exhausted',
					description: 'type: rate_limit_error, request id: req_err_1',
					httpCode: '429',
				},
				pairedItem: { item: 2 },
			},
		]);
	});

	it('should stop at the first failure, naming the item, when continue on fail is not set', async () => {
		const { ctx } = fakeContext({
			parameters: (itemIndex) => (itemIndex === 1 ? { ...parameters, text: '' } : parameters),
			items: [{}, {}],
			answers: [completion('one')],
		});

		await expect(route.call(ctx)).rejects.toMatchObject({
			message: 'Text is empty',
			context: { itemIndex: 1 },
		});
	});

	it('should output the reason when the gateway cannot be reached and continue on fail is set', async () => {
		const { ctx } = fakeContext({
			parameters,
			items: [{}, {}],
			continueOnFail: true,
			answers: [new Error('connect ECONNREFUSED 127.0.0.1:8080'), completion('two')],
		});

		const [output] = await route.call(ctx);

		expect(output).toEqual([
			{
				json: {
					error: 'The gateway at http://gateway.test:8080 could not be reached',
					description: 'connect ECONNREFUSED 127.0.0.1:8080',
				},
				pairedItem: { item: 0 },
			},
			{ json: expect.objectContaining({ summary: 'two' }), pairedItem: { item: 1 } },
		]);
	});

	// The stand-in throws a plain Error for a parameter the test does not set.
	const unsetParameter = 'parameter resource is not set in the test';

	it('should wrap an error that is not an n8n error as NodeOperationError naming the item', async () => {
		const { ctx } = fakeContext({
			parameters: (itemIndex) => (itemIndex === 1 ? {} : parameters),
			items: [{}, {}],
			answers: [completion('one')],
		});

		const call = route.call(ctx);

		await expect(call).rejects.toBeInstanceOf(NodeOperationError);
		await expect(call).rejects.toMatchObject({
			message: unsetParameter,
			context: { itemIndex: 1 },
		});
	});

	it('should output an error that is not an n8n error for its item when continue on fail is set', async () => {
		const { ctx } = fakeContext({
			parameters: (itemIndex) => (itemIndex === 0 ? {} : parameters),
			items: [{}, {}],
			continueOnFail: true,
			answers: [completion('two')],
		});

		const [output] = await route.call(ctx);

		expect(output).toEqual([
			{ json: { error: unsetParameter }, pairedItem: { item: 0 } },
			{ json: expect.objectContaining({ summary: 'two' }), pairedItem: { item: 1 } },
		]);
	});

	it('should refuse an operation it does not know', async () => {
		const { ctx } = fakeContext({ parameters: { ...parameters, operation: 'translate' } });

		await expect(route.call(ctx)).rejects.toThrow('Unknown operation "text.translate"');
	});
});
