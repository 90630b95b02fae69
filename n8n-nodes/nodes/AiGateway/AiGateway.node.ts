import type {
	IExecuteFunctions,
	INodeExecutionData,
	INodeType,
	INodeTypeDescription,
} from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

import { getModels } from './listSearch/getModels';
import { chatFields, chatOperations } from './resources/chat';
import { spendFields, spendOperations } from './resources/spend';
import { textFields, textOperations } from './resources/text';
import { route } from './router';

export class AiGateway implements INodeType {
	description: INodeTypeDescription = {
		displayName: 'AI Gateway',
		name: 'aiGateway',
		icon: { light: 'file:../../icons/aiGateway.svg', dark: 'file:../../icons/aiGateway.dark.svg' },
		group: ['transform'],
		version: 1,
		subtitle: '={{$parameter["operation"] + ": " + $parameter["resource"]}}',
		description:
			'Chat, classify, extract, summarize and embed through the AI gateway, with cost per workflow',
		defaults: { name: 'AI Gateway' },
		usableAsTool: true,
		inputs: [NodeConnectionTypes.Main],
		outputs: [NodeConnectionTypes.Main],
		credentials: [{ name: 'aiGatewayApi', required: true }],
		properties: [
			{
				displayName: 'Resource',
				name: 'resource',
				type: 'options',
				noDataExpression: true,
				options: [
					{ name: 'Chat', value: 'chat' },
					{ name: 'Spend', value: 'spend' },
					{ name: 'Text', value: 'text' },
				],
				default: 'chat',
			},
			chatOperations,
			textOperations,
			spendOperations,
			...chatFields,
			...textFields,
			...spendFields,
		],
	};

	methods = {
		listSearch: { getModels },
	};

	async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
		return await route.call(this);
	}
}
