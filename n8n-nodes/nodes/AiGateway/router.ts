import type { IDataObject, IExecuteFunctions, INodeExecutionData } from 'n8n-workflow';
import { NodeApiError, NodeOperationError } from 'n8n-workflow';

import { complete } from './resources/chat/complete';
import { get } from './resources/spend/get';
import { classify } from './resources/text/classify';
import { embed } from './resources/text/embed';
import { extract } from './resources/text/extract';
import { summarize } from './resources/text/summarize';

type Operation = (this: IExecuteFunctions, itemIndex: number) => Promise<IDataObject[]>;

const OPERATIONS: Record<string, Record<string, Operation>> = {
	chat: { complete },
	text: { classify, embed, extract, summarize },
	spend: { get },
};

function toNodeError(ctx: IExecuteFunctions, error: unknown, itemIndex: number) {
	if (error instanceof NodeApiError || error instanceof NodeOperationError) return error;
	return new NodeOperationError(ctx.getNode(), error as Error, { itemIndex });
}

/** Runs the chosen operation once per input item; each output item is paired with its input. */
export async function route(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
	const items = this.getInputData();
	const output: INodeExecutionData[] = [];

	for (let itemIndex = 0; itemIndex < items.length; itemIndex++) {
		try {
			const resource = this.getNodeParameter('resource', itemIndex) as string;
			const operation = this.getNodeParameter('operation', itemIndex) as string;
			const run = OPERATIONS[resource]?.[operation];
			if (!run) {
				throw new NodeOperationError(
					this.getNode(),
					`Unknown operation "${resource}.${operation}"`,
					{
						itemIndex,
					},
				);
			}

			const results = await run.call(this, itemIndex);
			output.push(...results.map((json) => ({ json, pairedItem: { item: itemIndex } })));
		} catch (error) {
			const nodeError = toNodeError(this, error, itemIndex);
			if (!this.continueOnFail()) throw nodeError;

			const failure: IDataObject = { error: nodeError.message };
			if (nodeError.description) failure.description = nodeError.description;
			if (nodeError instanceof NodeApiError && nodeError.httpCode) {
				failure.httpCode = nodeError.httpCode;
			}
			output.push({ json: failure, pairedItem: { item: itemIndex } });
		}
	}

	return [output];
}
