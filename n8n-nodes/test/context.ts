import type {
	IDataObject,
	IExecuteFunctions,
	IHttpRequestOptions,
	INode,
	INodeExecutionData,
} from 'n8n-workflow';

/** A scripted gateway answer, as httpRequest returns it with returnFullResponse. */
export interface FakeAnswer {
	statusCode?: number;
	headers?: IDataObject;
	body: unknown;
}

export interface ContextOptions {
	/** Parameters of the node, the same for every item unless a function is given. */
	parameters: IDataObject | ((itemIndex: number) => IDataObject);
	items?: IDataObject[];
	answers?: Array<FakeAnswer | Error>;
	continueOnFail?: boolean;
	credentials?: IDataObject;
}

export interface FakeContext {
	ctx: IExecuteFunctions;
	requests: IHttpRequestOptions[];
	credentialTypes: string[];
}

export const NODE: INode = {
	id: '2d6f5c1e-0b7a-4e0b-9a53-3f7d2c1a9b10',
	name: 'Classify Email via Gateway',
	type: 'n8n-nodes-ai-gateway.aiGateway',
	typeVersion: 1,
	position: [0, 0],
	parameters: {},
};

function isResourceLocator(value: unknown): value is { __rl: true; value: unknown } {
	return typeof value === 'object' && value !== null && '__rl' in value;
}

/**
 * An IExecuteFunctions stand-in: parameters from a table, a fixed workflow and
 * execution, and an HTTP helper that records each request and returns the next
 * scripted answer (an Error is thrown, as a network failure would be).
 */
export function fakeContext(options: ContextOptions): FakeContext {
	const requests: IHttpRequestOptions[] = [];
	const credentialTypes: string[] = [];
	const answers = [...(options.answers ?? [])];
	const items: INodeExecutionData[] = (options.items ?? [{}]).map((json) => ({ json }));

	const parametersFor = (itemIndex: number): IDataObject =>
		typeof options.parameters === 'function' ? options.parameters(itemIndex) : options.parameters;

	const ctx = {
		getInputData: () => items,
		getNode: () => NODE,
		getWorkflow: () => ({ id: 'wf-triage-01', name: 'Triage Support Email', active: false }),
		getExecutionId: () => '4242',
		continueOnFail: () => options.continueOnFail ?? false,
		getCredentials: async () =>
			options.credentials ?? { baseUrl: 'http://gateway.test:8080/', apiKey: 'sk-gw-test' },
		getNodeParameter: (
			name: string,
			itemIndex: number,
			fallback?: unknown,
			extra?: { extractValue?: boolean },
		) => {
			const parameters = parametersFor(itemIndex);
			const value = name in parameters ? parameters[name] : fallback;
			if (value === undefined) throw new Error(`parameter ${name} is not set in the test`);
			return extra?.extractValue && isResourceLocator(value) ? value.value : value;
		},
		helpers: {
			httpRequestWithAuthentication: async (
				credentialType: string,
				request: IHttpRequestOptions,
			) => {
				credentialTypes.push(credentialType);
				requests.push(request);
				const answer = answers.shift();
				if (answer === undefined) throw new Error('the test scripted no more answers');
				if (answer instanceof Error) throw answer;
				return { statusCode: 200, headers: {}, ...answer };
			},
		},
	};

	return { ctx: ctx as unknown as IExecuteFunctions, requests, credentialTypes };
}

/** A chat completion as the gateway answers it, with its `x_gateway` facts. */
export function completion(content: string, model = 'demo', facts: IDataObject = {}): FakeAnswer {
	return {
		headers: { 'x-request-id': 'req_header_only', 'x-gateway-model': model },
		body: {
			id: 'chatcmpl-1',
			model,
			choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content } }],
			usage: { prompt_tokens: 40, completion_tokens: 8, total_tokens: 48 },
			x_gateway: {
				request_id: 'req_0001',
				provider: 'demo',
				model,
				target: `demo/${model}`,
				prompt_tokens: 40,
				completion_tokens: 8,
				cached_tokens: 0,
				reasoning_tokens: 0,
				tokens_estimated: false,
				cost_usd: 0.0000108,
				overhead_ms: 1.2,
				attempts: 1,
				...facts,
			},
		},
	};
}

/** A gateway error answer in its one error shape. */
export function gatewayError(statusCode: number, message: string, type: string): FakeAnswer {
	return {
		statusCode,
		body: {
			error: { message, type, param: null, code: null, request_id: 'req_err_1', provider: null },
		},
	};
}
