import { mount } from 'svelte';
import App from './App.svelte';
import './app.css';
import { adoptTokenFromUrl } from './lib/api';
import { session } from './lib/session.svelte';
import { theme } from './lib/theme.svelte';

// Order matters: the token leaves the address bar before the router reads the hash.
adoptTokenFromUrl();
theme.start();
session.start();

const target = document.getElementById('app');
if (!target) throw new Error('index.html has no #app element');

export default mount(App, { target });
