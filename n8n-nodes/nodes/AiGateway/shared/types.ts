import type { IDataObject } from 'n8n-workflow';

/** The gateway's error body: OpenAI's error shape plus the request id. */
export interface GatewayErrorBody {
	error: {
		message: string;
		type?: string | null;
		param?: string | null;
		code?: string | null;
		request_id?: string | null;
		provider?: string | null;
	};
}

/** What the gateway reports about one proxied call (the `x_gateway` object). */
export interface GatewayFacts extends IDataObject {
	request_id: string | null;
	provider: string | null;
	model: string | null;
	/**
	 * The route target that answered (`provider/model`). When the gateway fell back,
	 * it is not the route's first target and `attempts` is more than 1.
	 */
	target: string | null;
	prompt_tokens: number | null;
	completion_tokens: number | null;
	total_tokens: number | null;
	cached_tokens: number | null;
	reasoning_tokens: number | null;
	tokens_estimated: boolean | null;
	cost_usd: number | null;
	overhead_ms: number | null;
	attempts: number | null;
}

export interface ChatMessage {
	role: 'system' | 'user' | 'assistant';
	content: string;
}

export interface JsonSchemaFormat {
	type: 'json_schema';
	json_schema: { name: string; strict: boolean; schema: IDataObject };
}

export interface ChatCompletionRequest {
	model: string;
	messages: ChatMessage[];
	temperature?: number;
	max_tokens?: number;
	response_format?: JsonSchemaFormat;
}

export interface ChatCompletion {
	id?: string;
	model?: string;
	choices: Array<{
		index: number;
		finish_reason?: string | null;
		message: { role: string; content: string | null };
	}>;
	usage?: { prompt_tokens?: number; completion_tokens?: number; total_tokens?: number };
	x_gateway?: IDataObject;
}

export interface EmbeddingResponse {
	model?: string;
	data: Array<{ index: number; embedding: number[] }>;
	usage?: { prompt_tokens?: number; total_tokens?: number };
	x_gateway?: IDataObject;
}

export interface ModelList {
	data: Array<{ id: string; owned_by?: string }>;
}

/** One group of a spend report: the grouped columns (`workflow`, `model`...) and sums. */
export interface SpendGroup extends IDataObject {
	requests: number;
	cost_usd: number;
	prompt_tokens: number;
	completion_tokens: number;
	cached_tokens: number;
	errors: number;
}

/** The body of GET /v1/spend. */
export interface SpendReport extends IDataObject {
	object: 'spend_report';
	since: string | null;
	until: string | null;
	period: string | null;
	group_by: string[];
	total: IDataObject;
	groups: SpendGroup[];
}

/** A gateway answer: the parsed body and the facts from headers and body. */
export interface GatewayResponse<T> {
	body: T;
	facts: GatewayFacts;
}
