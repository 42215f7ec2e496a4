// The tour app's backend plan, 4.1 (src/lib/apiClient.ts) and 4.2 (src/lib/showStore.ts),
// ported to plain JavaScript. axios is mini_axios.mjs; EventEmitter is Node's.
import { EventEmitter } from 'node:events';
import axios from './mini_axios.mjs';
import { env } from './env.mjs';

const API_URL = env.VITE_API_URL || 'http://localhost:3000/api';

const client = axios.create({
  baseURL: API_URL,
});

// Add token to requests
client.interceptors.request.use(config => {
  const token = localStorage.getItem('accessToken');
  if (token) {
    config.headers.Authorization = `Bearer ${token}`;
  }
  return config;
});

// Handle token refresh
client.interceptors.response.use(
  response => response,
  async error => {
    if (error.response?.status === 401) {
      // Try to refresh
      const refreshToken = localStorage.getItem('refreshToken');
      const { data } = await axios.post(`${API_URL}/auth/refresh`, { refreshToken });
      localStorage.setItem('accessToken', data.token);

      // Retry original request
      return client.request(error.config);
    }
    throw error;
  }
);

export default client;

export class ShowStore extends EventEmitter {
  shows = [];
  useApi = true; // Use backend instead of localStorage

  async loadShows() {
    if (this.useApi) {
      const { data } = await client.get('/shows');
      this.shows = data.shows;
    } else {
      // Fallback to localStorage
      this.shows = JSON.parse(localStorage.getItem('shows') || '[]');
    }
    this.emit('change', this.shows);
  }

  async createShow(show) {
    if (this.useApi) {
      const { data } = await client.post('/shows', show);
      this.shows.push(data.show);
    } else {
      this.shows.push(show);
      localStorage.setItem('shows', JSON.stringify(this.shows));
    }
    this.emit('change', this.shows);
  }

  async updateShow(id, updates) {
    if (this.useApi) {
      const { data } = await client.patch(`/shows/${id}`, updates);
      this.shows = this.shows.map(s => (s.id === id ? data.show : s));
    } else {
      this.shows = this.shows.map(s => (s.id === id ? { ...s, ...updates } : s));
      localStorage.setItem('shows', JSON.stringify(this.shows));
    }
    this.emit('change', this.shows);
  }

  // "... etc" in the plan: delete follows the same pattern.
  async deleteShow(id) {
    if (this.useApi) {
      await client.delete(`/shows/${id}`);
    }
    this.shows = this.shows.filter(s => s.id !== id);
    if (!this.useApi) localStorage.setItem('shows', JSON.stringify(this.shows));
    this.emit('change', this.shows);
  }
}

// Auth (plan 2.1): the tokens go where the interceptors look for them.
export async function register(email, password, fullName) {
  const { data } = await client.post('/auth/register', { email, password, fullName });
  localStorage.setItem('accessToken', data.token);
  localStorage.setItem('refreshToken', data.refreshToken);
  return data;
}

export async function login(email, password) {
  const { data } = await client.post('/auth/login', { email, password });
  localStorage.setItem('accessToken', data.token);
  localStorage.setItem('refreshToken', data.refreshToken);
  return data;
}

export async function logout() {
  const { data } = await client.post('/auth/logout');
  localStorage.removeItem('accessToken');
  localStorage.removeItem('refreshToken');
  return data;
}
