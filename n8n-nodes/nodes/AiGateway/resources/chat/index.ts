import type { INodeProperties } from 'n8n-workflow';

import { completionOptions, modelField } from '../../shared/descriptions';

const showForComplete = { show: { resource: ['chat'], operation: ['complete'] } };

const DEFAULT_SCHEMA = `{
  "type": "object",
  "properties": {
    "answer": { "type": "string" }
  },
  "required": ["answer"],
  "additionalProperties": false
}`;

export const chatOperations: INodeProperties = {
	displayName: 'Operation',
	name: 'operation',
	type: 'options',
	noDataExpression: true,
	displayOptions: { show: { resource: ['chat'] } },
	options: [
		{
			name: 'Complete',
			value: 'complete',
			action: 'Complete a chat',
			description: 'Send a prompt or messages to a model and get its answer',
		},
	],
	default: 'complete',
};

export const chatFields: INodeProperties[] = [
	modelField(showForComplete),
	{
		displayName: 'Input',
		name: 'input',
		type: 'options',
		noDataExpression: true,
		options: [
			{ name: 'Prompt', value: 'prompt', description: 'One user message' },
			{ name: 'Messages', value: 'messages', description: 'A conversation of several turns' },
		],
		default: 'prompt',
		displayOptions: showForComplete,
	},
	{
		displayName: 'Prompt',
		name: 'prompt',
		type: 'string',
		typeOptions: { rows: 4 },
		default: '',
		required: true,
		description: 'The user message to send',
		displayOptions: { show: { ...showForComplete.show, input: ['prompt'] } },
	},
	{
		displayName: 'Messages',
		name: 'messages',
		type: 'fixedCollection',
		typeOptions: { multipleValues: true, sortable: true },
		placeholder: 'Add Message',
		default: {},
		displayOptions: { show: { ...showForComplete.show, input: ['messages'] } },
		options: [
			{
				displayName: 'Message',
				name: 'message',
				values: [
					{
						displayName: 'Role',
						name: 'role',
						type: 'options',
						options: [
							{ name: 'User', value: 'user' },
							{ name: 'Assistant', value: 'assistant' },
							{ name: 'System', value: 'system' },
						],
						default: 'user',
					},
					{
						displayName: 'Content',
						name: 'content',
						type: 'string',
						typeOptions: { rows: 2 },
						default: '',
					},
				],
			},
		],
	},
	{
		displayName: 'System Message',
		name: 'systemMessage',
		type: 'string',
		typeOptions: { rows: 2 },
		default: '',
		description: 'Instructions sent before the conversation',
		displayOptions: showForComplete,
	},
	{
		displayName: 'Response Format',
		name: 'responseFormat',
		type: 'options',
		options: [
			{ name: 'Text', value: 'text', description: 'The answer as text in the field "text"' },
			{
				name: 'JSON (Schema)',
				value: 'jsonSchema',
				description: 'JSON that follows a schema, parsed into the fields of the output item',
			},
		],
		default: 'text',
		displayOptions: showForComplete,
	},
	{
		displayName: 'JSON Schema',
		name: 'jsonSchema',
		type: 'json',
		typeOptions: { rows: 8 },
		default: DEFAULT_SCHEMA,
		required: true,
		description: 'The JSON Schema the answer must follow; its top level should be an object',
		displayOptions: { show: { ...showForComplete.show, responseFormat: ['jsonSchema'] } },
	},
	completionOptions(showForComplete),
];
