import type {
	IDataObject,
	IHttpRequestOptions,
	ILoadOptionsFunctions,
	IWorkflowDataProxyData,
} from 'n8n-workflow';
import { Expression } from 'n8n-workflow';
import { describe, expect, it } from 'vitest';

import { AiGatewayApi } from '../credentials/AiGatewayApi.credentials';
import { getModels } from '../nodes/AiGateway/listSearch/getModels';
import { normalizeBaseUrl } from '../nodes/AiGateway/shared/transport';

// What users paste as the Base URL, and the gateway root every call must use.
const BASE_URLS: Array<[string, string]> = [
	['http://localhost:8080', 'http://localhost:8080'],
	['http://localhost:8080/', 'http://localhost:8080'],
	['http://localhost:8080/v1', 'http://localhost:8080'],
	['http://localhost:8080/v1/', 'http://localhost:8080'],
	['http://localhost:8080///', 'http://localhost:8080'],
	[' https://ai.example.com/v1/ ', 'https://ai.example.com'],
	['https://example.com/ai-gateway/v1', 'https://example.com/ai-gateway'],
];

interface LoadOptionsFake {
	ctx: ILoadOptionsFunctions;
	requests: IHttpRequestOptions[];
	credentialTypes: string[];
}

/** An ILoadOptionsFunctions stand-in whose HTTP helper answers with one model list. */
function loadOptionsContext(baseUrl: string, models: IDataObject): LoadOptionsFake {
	const requests: IHttpRequestOptions[] = [];
	const credentialTypes: string[] = [];
	const ctx = {
		getCredentials: async () => ({ baseUrl, apiKey: 'sk-gw-test' }),
		helpers: {
			httpRequestWithAuthentication: async (type: string, request: IHttpRequestOptions) => {
				credentialTypes.push(type);
				requests.push(request);
				return models;
			},
		},
	};

	return { ctx: ctx as unknown as ILoadOptionsFunctions, requests, credentialTypes };
}

function modelList(...ids: string[]): IDataObject {
	return { object: 'list', data: ids.map((id) => ({ id, object: 'model', owned_by: 'demo' })) };
}

/** Resolves a credential expression with n8n's own expression engine. */
function resolve(value: string, credentials: IDataObject): unknown {
	const data = { $credentials: credentials } as unknown as IWorkflowDataProxyData;
	return new Expression('UTC').resolveSimpleParameterValue(value, data);
}

describe('getModels', () => {
	it.each(BASE_URLS)(
		'should call GET /v1/models on the gateway root when the Base URL is "%s"',
		async (baseUrl, root) => {
			const { ctx, requests, credentialTypes } = loadOptionsContext(baseUrl, modelList('demo'));

			await getModels.call(ctx);

			expect(credentialTypes).toEqual(['aiGatewayApi']);
			expect(requests).toEqual([{ method: 'GET', baseURL: root, url: '/v1/models', json: true }]);
		},
	);

	it('should list every model sorted by name, each as name and value, when there is no search text', async () => {
		const { ctx } = loadOptionsContext(
			'http://gateway.test:8080',
			modelList('smart', 'demo', 'gpt-4o-mini', 'fast'),
		);

		const { results } = await getModels.call(ctx);

		expect(results).toEqual([
			{ name: 'demo', value: 'demo' },
			{ name: 'fast', value: 'fast' },
			{ name: 'gpt-4o-mini', value: 'gpt-4o-mini' },
			{ name: 'smart', value: 'smart' },
		]);
	});

	it('should keep only the models whose name contains the search text, ignoring case', async () => {
		const { ctx } = loadOptionsContext(
			'http://gateway.test:8080',
			modelList('smart', 'gpt-4o-mini', 'claude-haiku-4-5', 'GPT-4o', 'demo'),
		);

		const { results } = await getModels.call(ctx, 'Gpt');

		expect(results.map((result) => result.value)).toEqual(['GPT-4o', 'gpt-4o-mini']);
	});

	it('should return no models when the key may use none', async () => {
		const { ctx } = loadOptionsContext('http://gateway.test:8080', { object: 'list', data: [] });

		expect(await getModels.call(ctx, 'demo')).toEqual({ results: [] });
	});
});

describe('AI Gateway API credential', () => {
	const credential = new AiGatewayApi();

	it.each(BASE_URLS)(
		'should test the key with GET /v1/models on the gateway root when the Base URL is "%s"',
		(baseUrl, root) => {
			const { baseURL, url, method } = credential.test.request;
			const resolved = resolve(String(baseURL), { baseUrl, apiKey: 'sk-gw-test' });

			expect(method ?? 'GET').toBe('GET');
			expect(resolved).toBe(root);
			expect(resolved).toBe(normalizeBaseUrl(baseUrl));
			expect(`${String(resolved)}${url}`).toBe(`${root}/v1/models`);
		},
	);

	it('should send the virtual key as a bearer token', () => {
		const headers = credential.authenticate.properties.headers as IDataObject;

		expect(resolve(String(headers.Authorization), { apiKey: 'sk-gw-test' })).toBe(
			'Bearer sk-gw-test',
		);
	});
});
