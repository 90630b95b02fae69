import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';
import { NodeOperationError } from 'n8n-workflow';

import {
	buildChatRequest,
	jsonSchemaFormat,
	parseJsonContent,
	runCompletion,
} from '../../shared/completion';
import { readJsonObject, readModel, readOptions, readText } from '../../shared/parameters';
import type { ChatMessage } from '../../shared/types';

interface MessagesParameter {
	message?: ChatMessage[];
}

function readMessages(ctx: IExecuteFunctions, itemIndex: number): ChatMessage[] {
	const system = (ctx.getNodeParameter('systemMessage', itemIndex, '') as string).trim();
	const messages: ChatMessage[] = system ? [{ role: 'system', content: system }] : [];

	if (ctx.getNodeParameter('input', itemIndex) === 'prompt') {
		messages.push({ role: 'user', content: readText(ctx, itemIndex, 'prompt', 'Prompt') });
		return messages;
	}

	const conversation = ctx.getNodeParameter('messages', itemIndex, {}) as MessagesParameter;
	const turns = (conversation.message ?? []).filter((turn) => String(turn.content).trim());
	if (!turns.some((turn) => turn.role !== 'system')) {
		throw new NodeOperationError(ctx.getNode(), 'Add at least one user or assistant message', {
			itemIndex,
		});
	}

	return [...messages, ...turns.map(({ role, content }) => ({ role, content: String(content) }))];
}

/** Chat: one completion; a text answer, or JSON following a schema parsed into fields. */
export async function complete(this: IExecuteFunctions, itemIndex: number): Promise<IDataObject[]> {
	const model = readModel(this, itemIndex);
	const messages = readMessages(this, itemIndex);
	const options = readOptions(this, itemIndex);
	const wantsJson = this.getNodeParameter('responseFormat', itemIndex) === 'jsonSchema';
	const format = wantsJson
		? jsonSchemaFormat('answer', readJsonObject(this, itemIndex, 'jsonSchema', 'JSON Schema'))
		: undefined;

	const request = buildChatRequest(model, messages, options, format);
	const result = await runCompletion(this, itemIndex, request, options);

	if (wantsJson) {
		return [{ ...parseJsonContent(this, itemIndex, result.content), gateway: result.facts }];
	}
	return [{ text: result.content, finishReason: result.finishReason, gateway: result.facts }];
}
