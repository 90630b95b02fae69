import type {
	IAuthenticateGeneric,
	ICredentialTestRequest,
	ICredentialType,
	INodeProperties,
	Icon,
} from 'n8n-workflow';

export class AiGatewayApi implements ICredentialType {
	name = 'aiGatewayApi';

	displayName = 'AI Gateway API';

	icon: Icon = { light: 'file:../icons/aiGateway.svg', dark: 'file:../icons/aiGateway.dark.svg' };

	documentationUrl = 'https://github.com/ai-gateway/ai-gateway/tree/main/n8n-nodes#credential';

	properties: INodeProperties[] = [
		{
			displayName: 'Base URL',
			name: 'baseUrl',
			type: 'string',
			default: 'http://localhost:8080',
			required: true,
			placeholder: 'http://localhost:8080',
			description: "The gateway's address, without /v1",
		},
		{
			displayName: 'Virtual Key',
			name: 'apiKey',
			type: 'string',
			typeOptions: { password: true },
			default: '',
			required: true,
			description: 'A key the gateway issued (sk-gw-...), never a provider key',
		},
	];

	authenticate: IAuthenticateGeneric = {
		type: 'generic',
		properties: {
			headers: { Authorization: '=Bearer {{$credentials.apiKey}}' },
		},
	};

	test: ICredentialTestRequest = {
		request: {
			// The same normalization as the node's calls (normalizeBaseUrl in shared/transport).
			baseURL: '={{$credentials.baseUrl.trim().replace(/\\/+$/, "").replace(/\\/v1$/, "")}}',
			url: '/v1/models',
		},
	};
}
