export async function runDemo(_o: { requests: number }): Promise<number> { return 1; }
