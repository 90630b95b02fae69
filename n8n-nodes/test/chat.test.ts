import type { IDataObject } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';
import { describe, expect, it } from 'vitest';

import { route } from '../nodes/AiGateway/router';
import { completion, fakeContext } from './context';

const demo = { __rl: true, mode: 'list', value: 'demo' };

function chatParameters(overrides: IDataObject = {}): IDataObject {
	return {
		resource: 'chat',
		operation: 'complete',
		model: demo,
		input: 'prompt',
		prompt: 'Say hello',
		systemMessage: '',
		responseFormat: 'text',
		options: {},
		...overrides,
	};
}

describe('Chat: Complete', () => {
	it('should send the prompt with the system message and options when the input is a prompt', async () => {
		const { ctx, requests } = fakeContext({
			parameters: chatParameters({
				systemMessage: 'Be brief.',
				options: { temperature: 0.2, maxTokens: 50 },
			}),
			answers: [completion('Hello!')],
		});

		const [output] = await route.call(ctx);

		expect(requests[0].url).toBe('/v1/chat/completions');
		expect(requests[0].body).toEqual({
			model: 'demo',
			messages: [
				{ role: 'system', content: 'Be brief.' },
				{ role: 'user', content: 'Say hello' },
			],
			temperature: 0.2,
			max_tokens: 50,
		});
		expect(output).toEqual([
			{
				json: {
					text: 'Hello!',
					finishReason: 'stop',
					gateway: expect.objectContaining({
						model: 'demo',
						request_id: 'req_0001',
						cost_usd: 0.0000108,
					}),
				},
				pairedItem: { item: 0 },
			},
		]);
	});

	it('should send every turn in order when the input is messages', async () => {
		const messages = {
			message: [
				{ role: 'user', content: 'What is 2 + 2?' },
				{ role: 'assistant', content: '4' },
				{ role: 'user', content: 'And doubled?' },
			],
		};
		const { ctx, requests } = fakeContext({
			parameters: chatParameters({ input: 'messages', messages }),
			answers: [completion('8')],
		});

		await route.call(ctx);

		expect((requests[0].body as IDataObject).messages).toEqual(messages.message);
	});

	it('should ask for the schema and return the parsed fields when the format is a JSON schema', async () => {
		const schema = {
			type: 'object',
			properties: { reply: { type: 'string' }, urgent: { type: 'boolean' } },
			required: ['reply', 'urgent'],
		};
		const { ctx, requests } = fakeContext({
			parameters: chatParameters({
				responseFormat: 'jsonSchema',
				jsonSchema: JSON.stringify(schema),
			}),
			answers: [completion('{"reply": "On it", "urgent": true}')],
		});

		const [[item]] = await route.call(ctx);

		expect((requests[0].body as IDataObject).response_format).toEqual({
			type: 'json_schema',
			json_schema: { name: 'answer', strict: true, schema },
		});
		expect(item.json).toMatchObject({ reply: 'On it', urgent: true, gateway: { model: 'demo' } });
	});

	it('should accept the schema as an object from an expression', async () => {
		const schema = { type: 'object', properties: { ok: { type: 'boolean' } } };
		const { ctx, requests } = fakeContext({
			parameters: chatParameters({ responseFormat: 'jsonSchema', jsonSchema: schema }),
			answers: [completion('{"ok": true}')],
		});

		const [[item]] = await route.call(ctx);

		expect((requests[0].body as IDataObject).response_format).toMatchObject({
			json_schema: { schema },
		});
		expect(item.json.ok).toBe(true);
	});

	it('should put a JSON answer that is not an object in the field "data"', async () => {
		const { ctx } = fakeContext({
			parameters: chatParameters({ responseFormat: 'jsonSchema', jsonSchema: '{"type":"array"}' }),
			answers: [completion('["red", "green"]')],
		});

		const [[item]] = await route.call(ctx);

		expect(item.json).toEqual({
			data: ['red', 'green'],
			gateway: expect.objectContaining({ request_id: 'req_0001' }),
		});
	});

	it('should parse the answer when the model wraps the JSON in a code fence', async () => {
		const { ctx } = fakeContext({
			parameters: chatParameters({ responseFormat: 'jsonSchema', jsonSchema: '{"type":"object"}' }),
			answers: [completion('```json\n{"ok": 1}\n```')],
		});

		const [[item]] = await route.call(ctx);

		expect(item.json.ok).toBe(1);
	});

	it('should throw NodeOperationError when the model answers text that is not JSON', async () => {
		const { ctx } = fakeContext({
			parameters: chatParameters({ responseFormat: 'jsonSchema', jsonSchema: '{"type":"object"}' }),
			answers: [completion('Sure! Here you go.')],
		});

		const call = route.call(ctx);

		await expect(call).rejects.toBeInstanceOf(NodeOperationError);
		await expect(call).rejects.toThrow('The model did not answer with valid JSON');
	});

	it.each([
		[{ jsonSchema: '{not json' }, 'JSON Schema is not valid JSON'],
		[{ jsonSchema: '[1, 2]' }, 'JSON Schema must be a JSON object'],
	])(
		'should throw NodeOperationError before calling the gateway when the schema is bad',
		async (bad, message) => {
			const { ctx, requests } = fakeContext({
				parameters: chatParameters({ responseFormat: 'jsonSchema', ...bad }),
			});

			await expect(route.call(ctx)).rejects.toThrow(message);
			expect(requests).toEqual([]);
		},
	);

	it.each([
		[{ prompt: '   ' }, 'Prompt is empty'],
		[{ model: { __rl: true, mode: 'id', value: '' } }, 'Choose a model'],
		[
			{ input: 'messages', messages: { message: [{ role: 'system', content: 'x' }] } },
			'Add at least one user or assistant message',
		],
	])('should throw NodeOperationError when a parameter is missing', async (bad, message) => {
		const { ctx, requests } = fakeContext({ parameters: chatParameters(bad) });

		const call = route.call(ctx);

		await expect(call).rejects.toBeInstanceOf(NodeOperationError);
		await expect(call).rejects.toThrow(message);
		expect(requests).toEqual([]);
	});
});
