import { onMounted, ref } from 'vue';

export interface Health {
  status: string;
  store: string;
  head: number;
}

/** Reads /health: the one unauthenticated endpoint, enough to show the server is up and its log head. */
export function useHealth() {
  const health = ref<Health>();
  const error = ref<string>();
  onMounted(async () => {
    try {
      const response = await fetch('/health');
      health.value = (await response.json()) as Health;
    } catch (e) {
      error.value = (e as Error).message;
    }
  });
  return { health, error };
}
