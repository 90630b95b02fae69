import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import type { CompletionOptions } from './completion';

/** The model name from the model picker; throws NodeOperationError when empty. */
export function readModel(ctx: IExecuteFunctions, itemIndex: number): string {
	const model = ctx.getNodeParameter('model', itemIndex, '', { extractValue: true }) as string;
	if (!model.trim()) {
		throw new NodeOperationError(ctx.getNode(), 'Choose a model', { itemIndex });
	}

	return model.trim();
}

/** A required text parameter; throws NodeOperationError naming it when empty. */
export function readText(
	ctx: IExecuteFunctions,
	itemIndex: number,
	name: string,
	label: string,
): string {
	const value = ctx.getNodeParameter(name, itemIndex, '') as string;
	if (typeof value !== 'string' || !value.trim()) {
		throw new NodeOperationError(ctx.getNode(), `${label} is empty`, { itemIndex });
	}

	return value;
}

export function readOptions(ctx: IExecuteFunctions, itemIndex: number): CompletionOptions {
	return ctx.getNodeParameter('options', itemIndex, {}) as CompletionOptions;
}

/**
 * A JSON parameter that must hold an object (a JSON Schema); accepts the text of the
 * editor or an object from an expression. Throws NodeOperationError otherwise.
 */
export function readJsonObject(
	ctx: IExecuteFunctions,
	itemIndex: number,
	name: string,
	label: string,
): IDataObject {
	const raw = ctx.getNodeParameter(name, itemIndex) as string | IDataObject;
	let value: unknown = raw;
	if (typeof raw === 'string') {
		try {
			value = JSON.parse(raw);
		} catch (error) {
			throw new NodeOperationError(ctx.getNode(), `${label} is not valid JSON`, {
				itemIndex,
				description: (error as Error).message,
			});
		}
	}

	if (typeof value !== 'object' || value === null || Array.isArray(value)) {
		throw new NodeOperationError(ctx.getNode(), `${label} must be a JSON object`, { itemIndex });
	}

	return value as IDataObject;
}
