import type { IDataObject, IExecuteFunctions, JsonObject } from 'n8n-workflow';
import { NodeApiError } from 'n8n-workflow';

import { readModel, readText } from '../../shared/parameters';
import { gatewayRequest } from '../../shared/transport';
import type { EmbeddingResponse } from '../../shared/types';

interface EmbedOptions {
	dimensions?: number;
	tags?: string;
}

/** Embed: text to one vector. */
export async function embed(this: IExecuteFunctions, itemIndex: number): Promise<IDataObject[]> {
	const model = readModel(this, itemIndex);
	const input = readText(this, itemIndex, 'text', 'Text');
	const options = this.getNodeParameter('embedOptions', itemIndex, {}) as EmbedOptions;
	const body: IDataObject = { model, input };
	if (options.dimensions) body.dimensions = options.dimensions;

	const { body: answer, facts } = await gatewayRequest<EmbeddingResponse>(this, itemIndex, {
		method: 'POST',
		path: '/v1/embeddings',
		body,
		tags: options.tags,
	});
	const embedding = answer.data?.[0]?.embedding;
	if (!Array.isArray(embedding)) {
		throw new NodeApiError(this.getNode(), answer as unknown as JsonObject, {
			itemIndex,
			message: 'The gateway answered without an embedding',
		});
	}

	facts.model ??= answer.model ?? model;
	return [{ embedding, dimensions: embedding.length, gateway: facts }];
}
