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

	it('should refuse an operation it does not know', async () => {
		const { ctx } = fakeContext({ parameters: { ...parameters, operation: 'translate' } });

		await expect(route.call(ctx)).rejects.toThrow('Unknown operation "text.translate"');
	});
});
