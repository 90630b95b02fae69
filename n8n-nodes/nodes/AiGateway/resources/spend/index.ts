import type { INodeProperties } from 'n8n-workflow';

const showForGet = { show: { resource: ['spend'], operation: ['get'] } };

export const spendOperations: INodeProperties = {
	displayName: 'Operation',
	name: 'operation',
	type: 'options',
	noDataExpression: true,
	displayOptions: { show: { resource: ['spend'] } },
	options: [
		{
			name: 'Get',
			value: 'get',
			action: 'Get a spend report',
			description: 'Cost, requests and tokens of the credential key, from the gateway',
		},
	],
	default: 'get',
};

export const spendFields: INodeProperties[] = [
	{
		displayName: 'Scope',
		name: 'scope',
		type: 'options',
		options: [
			{
				name: 'This Workflow',
				value: 'workflow',
				description: 'Only the calls this workflow made with the key',
			},
			{ name: 'Whole Key', value: 'key', description: 'Every call made with the key' },
		],
		default: 'workflow',
		displayOptions: showForGet,
	},
	{
		displayName: 'Period',
		name: 'period',
		type: 'options',
		options: [
			{ name: 'All Time', value: 'total' },
			{ name: 'Custom Range', value: 'custom' },
			{ name: 'This Month', value: 'month' },
			{ name: 'This Week', value: 'week' },
			{ name: 'Today', value: 'day' },
		],
		default: 'day',
		description: 'Calendar periods are aligned to UTC',
		displayOptions: showForGet,
	},
	{
		displayName: 'Since',
		name: 'since',
		type: 'dateTime',
		default: '',
		required: true,
		displayOptions: { show: { ...showForGet.show, period: ['custom'] } },
	},
	{
		displayName: 'Until',
		name: 'until',
		type: 'dateTime',
		default: '',
		description: 'Leave empty for now',
		displayOptions: { show: { ...showForGet.show, period: ['custom'] } },
	},
	{
		displayName: 'Group By',
		name: 'groupBy',
		type: 'options',
		options: [
			{ name: 'Day', value: 'day' },
			{ name: 'Execution', value: 'execution' },
			{ name: 'Model', value: 'model' },
			{ name: 'No Grouping', value: 'none' },
			{ name: 'Provider', value: 'provider' },
			{ name: 'Tag', value: 'tag' },
			{ name: 'User', value: 'user' },
			{ name: 'Workflow', value: 'workflow' },
		],
		default: 'none',
		displayOptions: showForGet,
	},
	{
		displayName: 'Output',
		name: 'output',
		type: 'options',
		options: [
			{ name: 'One Report', value: 'report', description: 'One item with the totals and groups' },
			{
				name: 'One Item per Group',
				value: 'groups',
				description: 'One item for each group, each with the report period',
			},
		],
		default: 'report',
		displayOptions: { show: { ...showForGet.show }, hide: { groupBy: ['none'] } },
	},
];
