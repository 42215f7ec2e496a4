// The factory app's backend plan, Step 1 and Step 5, ported to plain JavaScript:
// src/shared/api/apiClient.ts, src/shared/api/apiRepository.ts and
// src/features/auth/api/authService.ts. Only the TypeScript types are gone.
import { env } from './env.mjs';

const API_URL = env.VITE_API_URL || 'http://localhost:8000';

export class ApiError extends Error {
  constructor(status, statusText, data) {
    super(`API Error: ${status} ${statusText}`);
    this.status = status;
    this.statusText = statusText;
    this.data = data;
  }
}

export async function apiClient(endpoint, options = {}) {
  const { method = 'GET', body, headers = {} } = options;

  // Get auth token from user store
  const token = localStorage.getItem('auth_token');

  const config = {
    method,
    headers: {
      'Content-Type': 'application/json',
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
  };

  if (body) {
    config.body = JSON.stringify(body);
  }

  const response = await fetch(`${API_URL}${endpoint}`, config);

  if (!response.ok) {
    const data = await response.json().catch(() => null);
    throw new ApiError(response.status, response.statusText, data);
  }

  return response.json();
}

// Convenience methods
export const api = {
  get: (endpoint) => apiClient(endpoint),
  post: (endpoint, body) => apiClient(endpoint, { method: 'POST', body }),
  put: (endpoint, body) => apiClient(endpoint, { method: 'PUT', body }),
  patch: (endpoint, body) => apiClient(endpoint, { method: 'PATCH', body }),
  delete: (endpoint) => apiClient(endpoint, { method: 'DELETE' }),
};

export function createApiRepository(endpoint) {
  return {
    async getAll() {
      return api.get(endpoint);
    },

    async getById(id) {
      try {
        return await api.get(`${endpoint}/${id}`);
      } catch (error) {
        if (error.status === 404) return null;
        throw error;
      }
    },

    async create(item) {
      return api.post(endpoint, item);
    },

    async update(id, updates) {
      return api.patch(`${endpoint}/${id}`, updates);
    },

    async delete(id) {
      await api.delete(`${endpoint}/${id}`);
    },

    async query(predicate) {
      // For complex queries, implement server-side filtering
      // For now, filter client-side
      const all = await this.getAll();
      return all.filter(predicate);
    },
  };
}

export async function loginWithPin(pin) {
  const response = await api.post('/api/auth/login', { pin });

  // Store token
  localStorage.setItem('auth_token', response.token);

  return response;
}

export async function logout() {
  localStorage.removeItem('auth_token');
  await api.post('/api/auth/logout', {});
}

export async function getCurrentUser() {
  try {
    return await api.get('/api/auth/me');
  } catch {
    return null;
  }
}
