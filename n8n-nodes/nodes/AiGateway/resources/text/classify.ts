import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import {
	buildChatRequest,
	jsonSchemaFormat,
	parseJsonContent,
	runCompletion,
} from '../../shared/completion';
import { readModel, readOptions, readText } from '../../shared/parameters';

interface Category {
	name: string;
	description?: string;
}

function readCategories(ctx: IExecuteFunctions, itemIndex: number): Category[] {
	const parameter = ctx.getNodeParameter('categories', itemIndex, {}) as { category?: Category[] };
	const categories = (parameter.category ?? []).filter((category) => category.name?.trim());
	if (categories.length < 2) {
		throw new NodeOperationError(ctx.getNode(), 'Add at least two categories', { itemIndex });
	}

	return categories.map(({ name, description }) => ({ name: name.trim(), description }));
}

export function buildClassifyPrompt(categories: Category[]): string {
	const lines = categories.map(({ name, description }) =>
		description ? `- ${name}: ${description}` : `- ${name}`,
	);
	return [
		'Classify the text the user sends into exactly one of these categories:',
		...lines,
		'Answer with JSON: {"category": "<one of the category names>"}.',
	].join('\n');
}

/** Classify: the one category (from the node's list) that fits the text best. */
export async function classify(this: IExecuteFunctions, itemIndex: number): Promise<IDataObject[]> {
	const model = readModel(this, itemIndex);
	const text = readText(this, itemIndex, 'text', 'Text');
	const categories = readCategories(this, itemIndex);
	const options = readOptions(this, itemIndex);
	const names = categories.map((category) => category.name);
	const schema = {
		type: 'object',
		properties: { category: { type: 'string', enum: names } },
		required: ['category'],
		additionalProperties: false,
	};

	const messages = [
		{ role: 'system' as const, content: buildClassifyPrompt(categories) },
		{ role: 'user' as const, content: text },
	];
	const request = buildChatRequest(model, messages, options, jsonSchemaFormat('category', schema));
	const result = await runCompletion(this, itemIndex, request, options);
	const { category } = parseJsonContent(this, itemIndex, result.content);

	if (!names.includes(String(category))) {
		throw new NodeOperationError(this.getNode(), 'The model chose a category not in the list', {
			itemIndex,
			description: `Answer: ${String(category)}`,
		});
	}

	return [{ category, gateway: result.facts }];
}
