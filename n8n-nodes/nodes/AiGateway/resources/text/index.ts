import type { INodeProperties } from 'n8n-workflow';

import { completionOptions, modelField, textField } from '../../shared/descriptions';

function showFor(operation: string) {
	return { show: { resource: ['text'], operation: [operation] } };
}

const modelOperations = { show: { resource: ['text'] } };

export const textOperations: INodeProperties = {
	displayName: 'Operation',
	name: 'operation',
	type: 'options',
	noDataExpression: true,
	displayOptions: { show: { resource: ['text'] } },
	options: [
		{
			name: 'Classify',
			value: 'classify',
			action: 'Classify text into a category',
			description: 'Choose the one category from a list that fits the text best',
		},
		{
			name: 'Embed',
			value: 'embed',
			action: 'Embed text as a vector',
			description: 'Turn text into an embedding vector for search and similarity',
		},
		{
			name: 'Extract',
			value: 'extract',
			action: 'Extract fields from text',
			description: 'Pull named fields out of free text into the fields of the output item',
		},
		{
			name: 'Summarize',
			value: 'summarize',
			action: 'Summarize text',
			description: 'Shorten text to a target length',
		},
	],
	default: 'classify',
};

const categories: INodeProperties = {
	displayName: 'Categories',
	name: 'categories',
	type: 'fixedCollection',
	typeOptions: { multipleValues: true, sortable: true },
	placeholder: 'Add Category',
	default: {},
	required: true,
	displayOptions: showFor('classify'),
	options: [
		{
			displayName: 'Category',
			name: 'category',
			values: [
				{
					displayName: 'Name',
					name: 'name',
					type: 'string',
					default: '',
					description: 'The value the node returns when this category fits',
				},
				{
					displayName: 'Description',
					name: 'description',
					type: 'string',
					default: '',
					description: 'What belongs in this category, to guide the model',
				},
			],
		},
	],
};

const fields: INodeProperties = {
	displayName: 'Fields',
	name: 'fields',
	type: 'fixedCollection',
	typeOptions: { multipleValues: true, sortable: true },
	placeholder: 'Add Field',
	default: {},
	required: true,
	displayOptions: showFor('extract'),
	options: [
		{
			displayName: 'Field',
			name: 'field',
			values: [
				{
					displayName: 'Name',
					name: 'name',
					type: 'string',
					default: '',
					description: 'The name of the field in the output item',
				},
				{
					displayName: 'Type',
					name: 'type',
					type: 'options',
					options: [
						{ name: 'Boolean', value: 'boolean' },
						{ name: 'Number', value: 'number' },
						{ name: 'String', value: 'string' },
					],
					default: 'string',
				},
				{
					displayName: 'Description',
					name: 'description',
					type: 'string',
					default: '',
					description: 'What the field holds, to guide the model',
				},
			],
		},
	],
};

export const textFields: INodeProperties[] = [
	modelField(modelOperations),
	textField(showFor('classify'), 'The text to classify'),
	categories,
	textField(showFor('extract'), 'The text to extract the fields from'),
	fields,
	{
		displayName: 'Extract Several Records',
		name: 'multipleRecords',
		type: 'boolean',
		default: false,
		description:
			'Whether the text may hold several records (such as several leads); each becomes an output item',
		displayOptions: showFor('extract'),
	},
	textField(showFor('summarize'), 'The text to summarize'),
	{
		displayName: 'Target Length (Words)',
		name: 'targetWords',
		type: 'number',
		typeOptions: { minValue: 5 },
		default: 100,
		description: 'About how many words the summary should have',
		displayOptions: showFor('summarize'),
	},
	{
		displayName: 'Format',
		name: 'format',
		type: 'options',
		options: [
			{ name: 'Paragraph', value: 'paragraph' },
			{ name: 'Bullet Points', value: 'bullets' },
		],
		default: 'paragraph',
		displayOptions: showFor('summarize'),
	},
	textField(showFor('embed'), 'The text to turn into a vector'),
	completionOptions({
		show: { resource: ['text'], operation: ['classify', 'extract', 'summarize'] },
	}),
	{
		displayName: 'Options',
		name: 'embedOptions',
		type: 'collection',
		placeholder: 'Add Option',
		default: {},
		displayOptions: showFor('embed'),
		options: [
			{
				displayName: 'Dimensions',
				name: 'dimensions',
				type: 'number',
				typeOptions: { minValue: 1 },
				default: 256,
				description: 'Length of the vector, for models that can shorten it',
			},
			{
				displayName: 'Tags',
				name: 'tags',
				type: 'string',
				default: '',
				description: 'Comma-separated tags the gateway records with the call',
			},
		],
	},
];
