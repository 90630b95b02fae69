import { supplyModel } from '@n8n/ai-node-sdk';
import type {
	INodeType,
	INodeTypeDescription,
	ISupplyDataFunctions,
	SupplyData,
} from 'n8n-workflow';
import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';

import { buildAttributionHeaders } from '../AiGateway/shared/attribution';
import { getModels } from '../AiGateway/listSearch/getModels';
import { CREDENTIAL_TYPE, normalizeBaseUrl } from '../AiGateway/shared/transport';

interface ModelOptions {
	maxTokens?: number;
	maxRetries?: number;
	tags?: string;
	temperature?: number;
	timeout?: number;
}

export class AiGatewayChatModel implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'AI Gateway Chat Model',
		name: 'aiGatewayChatModel',
		icon: { light: 'file:../../icons/aiGateway.svg', dark: 'file:../../icons/aiGateway.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["model"].value}}',
		description:
			'Any model of the AI gateway for AI Agent and LLM chain nodes, with cost per workflow',
		defaults: { name: 'AI Gateway Chat Model' },
		codex: {
			categories: ['AI'],
			subcategories: {
				AI: ['Language Models', 'Root Nodes'],
				'Language Models': ['Chat Models (Recommended)'],
			},
			resources: {
				primaryDocumentation: [
					{
						url: 'https://github.com/ai-gateway/ai-gateway/tree/main/n8n-nodes#the-chat-model-sub-node',
					},
				],
			},
		},
		inputs: [],
		outputs: [NodeConnectionTypes.AiLanguageModel],
		outputNames: ['Model'],
		credentials: [{ name: CREDENTIAL_TYPE, required: true }],
		properties: [
			{
				displayName: 'Model',
				name: 'model',
				type: 'resourceLocator',
				default: { mode: 'list', value: 'demo' },
				required: true,
				description: 'The model or model alias the gateway should use',
				modes: [
					{
						displayName: 'From List',
						name: 'list',
						type: 'list',
						typeOptions: { searchListMethod: 'getModels', searchable: true },
					},
					{
						displayName: 'By Name',
						name: 'id',
						type: 'string',
						placeholder: 'e.g. gpt-4o-mini',
					},
				],
			},
			{
				displayName: 'Options',
				name: 'options',
				type: 'collection',
				placeholder: 'Add Option',
				default: {},
				options: [
					{
						displayName: 'Max Retries',
						name: 'maxRetries',
						type: 'number',
						typeOptions: { minValue: 0 },
						default: 0,
						description:
							'How often n8n repeats a failed call; the gateway already retries and falls back',
					},
					{
						displayName: 'Max Tokens',
						name: 'maxTokens',
						type: 'number',
						typeOptions: { minValue: 1 },
						default: 1024,
						description: 'The most tokens the model may generate per answer',
					},
					{
						displayName: 'Tags',
						name: 'tags',
						type: 'string',
						default: '',
						placeholder: 'e.g. team=support',
						description: 'Comma-separated tags the gateway records with each call',
					},
					{
						displayName: 'Temperature',
						name: 'temperature',
						type: 'number',
						typeOptions: { minValue: 0, maxValue: 2, numberPrecision: 1 },
						default: 0.7,
						description: 'Randomness of the answers: 0 is the most repeatable',
					},
					{
						displayName: 'Timeout (Ms)',
						name: 'timeout',
						type: 'number',
						typeOptions: { minValue: 1000 },
						default: 120000,
						description: 'How long to wait for one answer',
					},
				],
			},
		],
	};

	methods = {
		listSearch: { getModels },
	};

	async supplyData(this: ISupplyDataFunctions, itemIndex: number): Promise<SupplyData> {
		const credentials = await this.getCredentials(CREDENTIAL_TYPE);
		const model = this.getNodeParameter('model', itemIndex, '', { extractValue: true }) as string;
		const options = this.getNodeParameter('options', itemIndex, {}) as ModelOptions;
		if (!model.trim()) {
			throw new NodeOperationError(this.getNode(), 'Choose a model', { itemIndex });
		}

		return supplyModel(this, {
			type: 'openai',
			baseUrl: `${normalizeBaseUrl(String(credentials.baseUrl))}/v1`,
			apiKey: String(credentials.apiKey),
			model: model.trim(),
			temperature: options.temperature,
			maxTokens: options.maxTokens,
			maxRetries: options.maxRetries ?? 0,
			timeout: options.timeout,
			defaultHeaders: buildAttributionHeaders(this, options.tags),
		});
	}
}
