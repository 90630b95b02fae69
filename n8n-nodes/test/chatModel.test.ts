import type { ISupplyDataFunctions } from 'n8n-workflow';
import { describe, expect, it, vi } from 'vitest';

import { AiGatewayChatModel } from '../nodes/AiGatewayChatModel/AiGatewayChatModel.node';
import { fakeContext } from './context';

const supplyModel = vi.hoisted(() => vi.fn(() => ({ response: 'model' })));
vi.mock('@n8n/ai-node-sdk', () => ({ supplyModel }));

function supplyContext(parameters: Record<string, unknown>) {
	const { ctx } = fakeContext({
		parameters,
		credentials: { baseUrl: 'http://gateway.test:8080/v1/', apiKey: 'sk-gw-agent' },
	});
	return ctx as unknown as ISupplyDataFunctions;
}

describe('AI Gateway Chat Model', () => {
	it('should supply an OpenAI-compatible model on the gateway with the attribution headers', async () => {
		const ctx = supplyContext({
			model: { __rl: true, mode: 'list', value: 'smart' },
			options: { temperature: 0, maxTokens: 300, tags: 'agent' },
		});

		const supplied = await new AiGatewayChatModel().supplyData.call(ctx, 0);

		expect(supplied).toEqual({ response: 'model' });
		expect(supplyModel).toHaveBeenCalledWith(ctx, {
			type: 'openai',
			baseUrl: 'http://gateway.test:8080/v1',
			apiKey: 'sk-gw-agent',
			model: 'smart',
			temperature: 0,
			maxTokens: 300,
			maxRetries: 0,
			timeout: undefined,
			defaultHeaders: {
				'X-Workflow-Id': 'wf-triage-01',
				'X-Workflow-Name': 'Triage Support Email',
				'X-Execution-Id': '4242',
				'X-Node-Name': 'Classify Email via Gateway',
				'X-Tags': 'agent',
			},
		});
	});

	it('should refuse an empty model', async () => {
		const ctx = supplyContext({ model: { __rl: true, mode: 'id', value: '' }, options: {} });

		await expect(new AiGatewayChatModel().supplyData.call(ctx, 0)).rejects.toThrow(
			'Choose a model',
		);
	});
});
