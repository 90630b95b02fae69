import type { IDisplayOptions, INodeProperties } from 'n8n-workflow';

/** The model picker: a list loaded live from the gateway, or a name typed in. */
export function modelField(displayOptions: IDisplayOptions): INodeProperties {
	return {
		displayName: 'Model',
		name: 'model',
		type: 'resourceLocator',
		default: { mode: 'list', value: 'demo' },
		required: true,
		description: 'The model or model alias the gateway should use',
		displayOptions,
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
	};
}

export function textField(displayOptions: IDisplayOptions, description: string): INodeProperties {
	return {
		displayName: 'Text',
		name: 'text',
		type: 'string',
		typeOptions: { rows: 4 },
		default: '',
		required: true,
		description,
		displayOptions,
	};
}

const temperature: INodeProperties = {
	displayName: 'Temperature',
	name: 'temperature',
	type: 'number',
	typeOptions: { minValue: 0, maxValue: 2, numberPrecision: 1 },
	default: 0,
	description: 'Randomness of the answer: 0 is the most repeatable',
};

const maxTokens: INodeProperties = {
	displayName: 'Max Tokens',
	name: 'maxTokens',
	type: 'number',
	typeOptions: { minValue: 1 },
	default: 1024,
	description: 'The most tokens the model may generate',
};

const tags: INodeProperties = {
	displayName: 'Tags',
	name: 'tags',
	type: 'string',
	default: '',
	placeholder: 'e.g. team=support, triage',
	description: 'Comma-separated tags the gateway records with the call, as name or name=value',
};

/** The "Options" collection of an operation that calls a model. */
export function completionOptions(
	displayOptions: IDisplayOptions,
	extra: INodeProperties[] = [],
): INodeProperties {
	return {
		displayName: 'Options',
		name: 'options',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		displayOptions,
		options: [...extra, maxTokens, tags, temperature],
	};
}
