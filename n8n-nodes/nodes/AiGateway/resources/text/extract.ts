import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import {
	buildChatRequest,
	jsonSchemaFormat,
	parseJsonContent,
	runCompletion,
} from '../../shared/completion';
import { readModel, readOptions, readText } from '../../shared/parameters';

interface Field {
	name: string;
	type: 'string' | 'number' | 'boolean';
	description?: string;
}

function readFields(ctx: IExecuteFunctions, itemIndex: number): Field[] {
	const parameter = ctx.getNodeParameter('fields', itemIndex, {}) as { field?: Field[] };
	const fields = (parameter.field ?? []).filter((field) => field.name?.trim());
	if (fields.length === 0) {
		throw new NodeOperationError(ctx.getNode(), 'Add at least one field', { itemIndex });
	}

	return fields.map((field) => ({ ...field, name: field.name.trim() }));
}

/**
 * The JSON Schema of one record: every field is required and may be null, the form
 * strict structured output accepts, so a model can say a field is absent.
 */
export function buildRecordSchema(fields: Field[]): IDataObject {
	const properties: IDataObject = {};
	for (const { name, type, description } of fields) {
		properties[name] = description
			? { type: [type, 'null'], description }
			: { type: [type, 'null'] };
	}

	return {
		type: 'object',
		properties,
		required: fields.map((field) => field.name),
		additionalProperties: false,
	};
}

const SYSTEM_PROMPT =
	'Extract the requested fields from the text the user sends. Use only facts from the ' +
	'text; when a field is not in the text, answer null for it. Answer with JSON.';

/** Extract: named fields from free text, as one output item or one per record found. */
export async function extract(this: IExecuteFunctions, itemIndex: number): Promise<IDataObject[]> {
	const model = readModel(this, itemIndex);
	const text = readText(this, itemIndex, 'text', 'Text');
	const record = buildRecordSchema(readFields(this, itemIndex));
	const several = this.getNodeParameter('multipleRecords', itemIndex, false) as boolean;
	const options = readOptions(this, itemIndex);
	const schema = several
		? {
				type: 'object',
				properties: { records: { type: 'array', items: record } },
				required: ['records'],
				additionalProperties: false,
			}
		: record;

	const messages = [
		{ role: 'system' as const, content: SYSTEM_PROMPT },
		{ role: 'user' as const, content: text },
	];
	const request = buildChatRequest(model, messages, options, jsonSchemaFormat('fields', schema));
	const result = await runCompletion(this, itemIndex, request, options);
	const answer = parseJsonContent(this, itemIndex, result.content);

	const records = several ? ((answer.records as IDataObject[] | undefined) ?? []) : [answer];
	return records.map((fields) => ({ ...fields, gateway: { ...result.facts } }));
}
