import type { IDataObject, IExecuteFunctions } from 'n8n-workflow';

import { buildChatRequest, runCompletion } from '../../shared/completion';
import { readModel, readOptions, readText } from '../../shared/parameters';

export function buildSummarizePrompt(targetWords: number, format: string): string {
	const shape = format === 'bullets' ? 'as a list of short bullet points' : 'as one paragraph';
	return (
		`Summarize the text the user sends in about ${targetWords} words, ${shape}. ` +
		'Keep the facts, names and numbers that matter; add nothing that is not in the text.'
	);
}

// About 1.3 tokens per English word, with room to finish the last sentence.
function tokensFor(words: number): number {
	return Math.ceil(words * 2) + 64;
}

/** Summarize: the text shortened to about the target number of words. */
export async function summarize(
	this: IExecuteFunctions,
	itemIndex: number,
): Promise<IDataObject[]> {
	const model = readModel(this, itemIndex);
	const text = readText(this, itemIndex, 'text', 'Text');
	const targetWords = this.getNodeParameter('targetWords', itemIndex, 100) as number;
	const format = this.getNodeParameter('format', itemIndex, 'paragraph') as string;
	const options = readOptions(this, itemIndex);

	const messages = [
		{ role: 'system' as const, content: buildSummarizePrompt(targetWords, format) },
		{ role: 'user' as const, content: text },
	];
	const withLimit = { ...options, maxTokens: options.maxTokens ?? tokensFor(targetWords) };
	const request = buildChatRequest(model, messages, withLimit);
	const result = await runCompletion(this, itemIndex, request, options);

	return [{ summary: result.content.trim(), gateway: result.facts }];
}
