import { MemoryStore } from '../../../src/cluster/manager/store.js';
import { storeContract } from './store.contract.js';

storeContract('MemoryStore', { create: async (options) => new MemoryStore(options) });
