import type { ILoadOptionsFunctions, INodeListSearchResult } from 'n8n-workflow';

import { CREDENTIAL_TYPE, normalizeBaseUrl } from '../shared/transport';
import type { ModelList } from '../shared/types';

/** The models the credential's key may use, from GET /v1/models, filtered by the search text. */
export async function getModels(
	this: ILoadOptionsFunctions,
	filter?: string,
): Promise<INodeListSearchResult> {
	const credentials = await this.getCredentials(CREDENTIAL_TYPE);
	const list = (await this.helpers.httpRequestWithAuthentication.call(this, CREDENTIAL_TYPE, {
		method: 'GET',
		baseURL: normalizeBaseUrl(String(credentials.baseUrl)),
		url: '/v1/models',
		json: true,
	})) as ModelList;

	const needle = (filter ?? '').toLowerCase();
	const results = (list.data ?? [])
		.map((model) => model.id)
		.filter((id) => id.toLowerCase().includes(needle))
		.sort((a, b) => a.localeCompare(b))
		.map((id) => ({ name: id, value: id }));

	return { results };
}
