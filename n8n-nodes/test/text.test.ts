import type { IDataObject } from 'n8n-workflow';
import { NodeApiError, NodeOperationError } from 'n8n-workflow';
import { describe, expect, it } from 'vitest';

import { route } from '../nodes/AiGateway/router';
import { completion, fakeContext, gatewayError } from './context';

const demo = { __rl: true, mode: 'list', value: 'demo' };

const categories = {
	category: [
		{ name: 'billing', description: 'Invoices and refunds' },
		{ name: 'technical', description: '' },
	],
};

function body(request: { body?: unknown }): IDataObject {
	return request.body as IDataObject;
}

describe('Text: Classify', () => {
	const parameters = {
		resource: 'text',
		operation: 'classify',
		model: demo,
		text: 'I was charged twice',
		categories,
		options: { temperature: 0 },
	};

	it('should ask for one of the category names and return the category', async () => {
		const { ctx, requests } = fakeContext({
			parameters,
			answers: [completion('{"category": "billing"}')],
		});

		const [[item]] = await route.call(ctx);

		const sent = body(requests[0]);
		expect(sent.response_format).toEqual({
			type: 'json_schema',
			json_schema: {
				name: 'category',
				strict: true,
				schema: {
					type: 'object',
					properties: { category: { type: 'string', enum: ['billing', 'technical'] } },
					required: ['category'],
					additionalProperties: false,
				},
			},
		});
		const [system, user] = sent.messages as Array<{ content: string }>;
		expect(system.content).toContain('- billing: Invoices and refunds\n- technical\n');
		expect(user.content).toBe('I was charged twice');
		expect(item.json).toMatchObject({ category: 'billing', gateway: { model: 'demo' } });
	});

	it('should throw NodeOperationError when the model answers a category not in the list', async () => {
		const { ctx } = fakeContext({ parameters, answers: [completion('{"category": "spam"}')] });

		await expect(route.call(ctx)).rejects.toThrow('The model chose a category not in the list');
	});

	it('should throw NodeOperationError when fewer than two categories are set', async () => {
		const { ctx } = fakeContext({
			parameters: { ...parameters, categories: { category: [{ name: 'billing' }] } },
		});

		await expect(route.call(ctx)).rejects.toBeInstanceOf(NodeOperationError);
	});
});

describe('Text: Extract', () => {
	const fields = {
		field: [
			{ name: 'email', type: 'string', description: 'Email address' },
			{ name: 'budget_usd', type: 'number', description: '' },
		],
	};
	const parameters = {
		resource: 'text',
		operation: 'extract',
		model: demo,
		text: 'Maria, maria@example.com, budget 900',
		fields,
		multipleRecords: false,
		options: {},
	};
	const record = {
		type: 'object',
		properties: {
			email: { type: ['string', 'null'], description: 'Email address' },
			budget_usd: { type: ['number', 'null'] },
		},
		required: ['email', 'budget_usd'],
		additionalProperties: false,
	};

	it('should ask for every field as nullable and return the fields on the item', async () => {
		const { ctx, requests } = fakeContext({
			parameters,
			answers: [completion('{"email": "maria@example.com", "budget_usd": 900}')],
		});

		const [[item]] = await route.call(ctx);

		expect(body(requests[0]).response_format).toMatchObject({ json_schema: { schema: record } });
		expect(item.json).toMatchObject({ email: 'maria@example.com', budget_usd: 900 });
		expect(item.json.gateway).toMatchObject({ request_id: 'req_0001' });
	});

	it('should return one item per record, each paired with its input, when several records are asked for', async () => {
		const { ctx, requests } = fakeContext({
			parameters: { ...parameters, multipleRecords: true },
			items: [{ message: 'first' }, { message: 'second' }],
			answers: [
				completion(
					'{"records": [{"email": "a@x.test", "budget_usd": 1}, {"email": "b@x.test", "budget_usd": null}]}',
				),
				completion('{"records": []}'),
			],
		});

		const [output] = await route.call(ctx);

		expect(body(requests[0]).response_format).toMatchObject({
			json_schema: {
				schema: {
					properties: { records: { type: 'array', items: record } },
					required: ['records'],
				},
			},
		});
		expect(output.map((item) => [item.json.email, item.pairedItem])).toEqual([
			['a@x.test', { item: 0 }],
			['b@x.test', { item: 0 }],
		]);
	});

	it('should pair each record and each failure with its own input when continue on fail is set', async () => {
		const { ctx } = fakeContext({
			parameters: { ...parameters, multipleRecords: true },
			items: [{}, {}, {}],
			continueOnFail: true,
			answers: [
				completion('{"records": [{"email": "a@x.test"}, {"email": "b@x.test"}]}'),
				gatewayError(429, 'key budget exhausted', 'rate_limit_error'),
				completion('{"records": [{"email": "c@x.test"}]}'),
			],
		});

		const [output] = await route.call(ctx);

		expect(output.map((item) => [item.json.email ?? item.json.error, item.pairedItem])).toEqual([
			['a@x.test', { item: 0 }],
			['b@x.test', { item: 0 }],
			['key budget exhausted', { item: 1 }],
			['c@x.test', { item: 2 }],
		]);
	});

	it('should throw NodeOperationError when no field is named', async () => {
		const { ctx } = fakeContext({
			parameters: { ...parameters, fields: { field: [{ name: ' ' }] } },
		});

		await expect(route.call(ctx)).rejects.toThrow('Add at least one field');
	});
});

describe('Text: Summarize', () => {
	it('should ask for the target length and format and limit the tokens when no limit is set', async () => {
		const { ctx, requests } = fakeContext({
			parameters: {
				resource: 'text',
				operation: 'summarize',
				model: demo,
				text: 'A long report...',
				targetWords: 60,
				format: 'bullets',
				options: {},
			},
			answers: [completion('  - Orders grew 18 percent.  ')],
		});

		const [[item]] = await route.call(ctx);

		const sent = body(requests[0]);
		const [system] = sent.messages as Array<{ content: string }>;
		expect(system.content).toContain('about 60 words, as a list of short bullet points');
		expect(sent.max_tokens).toBe(184);
		expect(item.json).toMatchObject({ summary: '- Orders grew 18 percent.' });
	});
});

describe('Text: Summarize as a paragraph', () => {
	it('should keep the max tokens the user set and return the gateway facts', async () => {
		const { ctx, requests } = fakeContext({
			parameters: {
				resource: 'text',
				operation: 'summarize',
				model: demo,
				text: 'A long report...',
				targetWords: 60,
				format: 'paragraph',
				options: { maxTokens: 500, temperature: 0.3 },
			},
			answers: [completion('Orders grew.')],
		});

		const [[item]] = await route.call(ctx);

		const sent = body(requests[0]);
		const [system, user] = sent.messages as Array<{ content: string }>;
		expect(system.content).toContain('about 60 words, as one paragraph');
		expect(user.content).toBe('A long report...');
		expect(sent).toMatchObject({ max_tokens: 500, temperature: 0.3 });
		expect(sent.response_format).toBeUndefined();
		expect(item.json).toEqual({
			summary: 'Orders grew.',
			gateway: expect.objectContaining({ request_id: 'req_0001', cost_usd: 0.0000108 }),
		});
	});
});

describe('Text: Embed', () => {
	it('should send the text and dimensions and return the vector with its length', async () => {
		const { ctx, requests } = fakeContext({
			parameters: {
				resource: 'text',
				operation: 'embed',
				model: demo,
				text: 'hello',
				embedOptions: { dimensions: 3, tags: 'search' },
			},
			answers: [
				{
					headers: {
						'x-request-id': 'req_e1',
						'x-gateway-model': 'demo',
						'x-gateway-cost-usd': '0.000001',
					},
					body: { model: 'demo', data: [{ index: 0, embedding: [0.1, 0.2, 0.3] }] },
				},
			],
		});

		const [[item]] = await route.call(ctx);

		expect(requests[0]).toMatchObject({
			url: '/v1/embeddings',
			body: { model: 'demo', input: 'hello', dimensions: 3 },
			headers: { 'X-Tags': 'search' },
		});
		expect(item.json).toMatchObject({
			embedding: [0.1, 0.2, 0.3],
			dimensions: 3,
			gateway: { request_id: 'req_e1', model: 'demo', cost_usd: 0.000001 },
		});
	});

	const parameters = {
		resource: 'text',
		operation: 'embed',
		model: demo,
		text: 'hello',
		embedOptions: {},
	};

	it('should leave the dimensions out when they are not set', async () => {
		const { ctx, requests } = fakeContext({
			parameters,
			answers: [{ body: { model: 'demo', data: [{ index: 0, embedding: [0.5] }] } }],
		});

		await route.call(ctx);

		expect(requests[0].body).toEqual({ model: 'demo', input: 'hello' });
	});

	it('should throw NodeApiError when the gateway answers without an embedding', async () => {
		const { ctx } = fakeContext({ parameters, answers: [{ body: { model: 'demo', data: [] } }] });

		const call = route.call(ctx);

		await expect(call).rejects.toBeInstanceOf(NodeApiError);
		await expect(call).rejects.toThrow('The gateway answered without an embedding');
	});
});
